"""Reading typed fields out of request bodies; every failure is a `validation_error` on that field."""
from __future__ import annotations

from decimal import Decimal
from typing import Any, Mapping

from mortard.sandbox.errors import bad_request, invalid

_MISSING = object()


def require_object(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise bad_request("request body must be a JSON object")
    return body


def money(body: Mapping[str, Any], key: str, default: Any = _MISSING) -> Decimal:
    value = body.get(key, default)
    if value is _MISSING or value is None:
        if default is _MISSING:
            raise invalid(key, "is required")
        return default
    if isinstance(value, bool) or not isinstance(value, (int, Decimal)):
        raise invalid(key, "must be a number")
    amount = Decimal(value)
    if not amount.is_finite() or amount != amount.quantize(Decimal("0.01")):
        raise invalid(key, "must have at most 2 decimals")
    return amount.quantize(Decimal("0.01"))


def integer(body: Mapping[str, Any], key: str, default: Any = _MISSING, *,
            minimum: int | None = None) -> Any:
    value = body.get(key, default)
    if value is _MISSING or value is None:
        if default is _MISSING:
            raise invalid(key, "is required")
        return default
    if isinstance(value, bool) or not isinstance(value, int):
        raise invalid(key, "must be an integer")
    if minimum is not None and value < minimum:
        raise invalid(key, f"must be at least {minimum}")
    return value


def ref(body: Mapping[str, Any], key: str, table: Mapping[int, Any], *, required: bool) -> int | None:
    """An id field that must name an existing row of `table`."""
    ident = integer(body, key, None if not required else _MISSING)
    if ident is not None and ident not in table:
        raise invalid(key, f"does not exist ({ident})")
    return ident


def text(body: Mapping[str, Any], key: str, default: str | None = None) -> str | None:
    value = body.get(key, default)
    if value is not None and not isinstance(value, str):
        raise invalid(key, "must be a string")
    return value


def boolean(body: Mapping[str, Any], key: str, default: bool) -> bool:
    value = body.get(key, default)
    if not isinstance(value, bool):
        raise invalid(key, "must be true or false")
    return value


def custom(body: Mapping[str, Any]) -> dict[str, Any]:
    """`custom: {...}` merged with flat `custom@key` fields."""
    values = body.get("custom") or {}
    if not isinstance(values, dict):
        raise invalid("custom", "must be an object")
    merged = dict(values)
    for key, value in body.items():
        if key.startswith("custom@"):
            merged[key.removeprefix("custom@")] = value
    return merged
