"""Reading fields of Shopify's JSON: lists, amounts in the shop's currency (`*_set.shop_money` when sent),
ids and times (aware UTC), each wrong one an `InvalidOrder` that names the field.
"""
from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal, InvalidOperation
from typing import Any, Mapping

from mortard.sync.model.shopify import InvalidOrder
from mortard.sync.money import to_money


def list_at(o: Mapping[str, Any], key: str) -> list[Any]:
    value = o.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise InvalidOrder(f"{key} must be a list, not {type(value).__name__}")
    return value


def money_at(o: Mapping[str, Any], key: str, default: Decimal | None = None, label: str | None = None) -> Decimal:
    label = label or key
    value = o.get(key)
    if value is None or value == "":
        if default is None:
            raise InvalidOrder(f"{label} is missing")
        return default
    if isinstance(value, bool) or not isinstance(value, (str, int, float, Decimal)):
        raise InvalidOrder(f"{label} must be an amount, not {type(value).__name__}")
    try:
        money = to_money(value)
    except (InvalidOperation, ValueError):
        raise InvalidOrder(f"{label} is not an amount: {str(value)[:40]!r}") from None
    if abs(money) >= Decimal("1e12"):
        raise InvalidOrder(f"{label} is out of range: {str(value)[:40]}")
    return money


def shop_money_at(o: Mapping[str, Any], key: str, currency: str) -> Decimal:
    """The shop money of a `*_set` money bag (`{shop_money: {amount, currency_code}, presentment_money}`)."""
    shop = o[key].get("shop_money")
    if not isinstance(shop, Mapping):
        raise InvalidOrder(f"{key} has no shop_money")
    code = shop.get("currency_code")
    if isinstance(code, str) and code and code.upper() != currency:
        raise InvalidOrder(f"{key}.shop_money is in {code}, not the shop's {currency}")
    return money_at(shop, "amount", label=f"{key}.shop_money.amount")


def amount_at(o: Mapping[str, Any], key: str, currency: str, default: Decimal | None = None) -> Decimal:
    """An amount in the shop's currency: `<key>_set.shop_money` when Shopify sends it, else the plain
    field (which the REST order, its lines and refund lines give in the shop's currency too)."""
    bag = o.get(f"{key}_set")
    if isinstance(bag, Mapping) and isinstance(bag.get("shop_money"), Mapping) \
            and bag["shop_money"].get("amount") not in (None, ""):
        return shop_money_at(o, f"{key}_set", currency)
    return money_at(o, key, default)


def optional_int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def utc_time(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        t = datetime.fromisoformat(value.replace("Z", "+00:00"))
        return (t if t.tzinfo else t.replace(tzinfo=timezone.utc)).astimezone(timezone.utc)
    except (ValueError, OverflowError):  # OverflowError: year 1 or 9999 shifted out of range by its offset
        return None

