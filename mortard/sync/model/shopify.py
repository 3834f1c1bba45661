"""The parts of a Shopify order as the core reasons about them: lines, refund lines, payments, the
customer and addresses, in the shop's currency. `InvalidOrder` is what reading an order raises, with a
sentence a person can act on; the order itself and its refunds are `order.py`.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from decimal import Decimal
from typing import Any, Mapping


class InvalidOrder(ValueError):
    """The Shopify payload can't be synced as it is (a person must look); the message says why."""


@dataclass(frozen=True, slots=True)
class Address:
    first_name: str
    last_name: str
    line_1: str
    line_2: str
    city: str
    state: str
    postal_code: str
    country: str
    phone: str

    def as_heartland(self) -> dict[str, str]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class ShopifyLine:
    id: int
    sku: str
    title: str
    quantity: int           # originally ordered
    current_quantity: int   # ordered minus removed and refunded
    price: Decimal          # unit price before discounts
    discount: Decimal       # all discount allocations on the line, for the whole original quantity
    tax: Decimal
    location_id: int | None = None


@dataclass(frozen=True, slots=True)
class RefundLine:
    line_id: int
    quantity: int
    restock_type: str       # cancel | return | no_restock | legacy_restock
    subtotal: Decimal
    tax: Decimal


@dataclass(frozen=True, slots=True)
class Payment:
    gateway: str
    amount: Decimal


@dataclass(frozen=True, slots=True)
class Customer:
    email: str
    phone: str
    first_name: str
    last_name: str


def matching_address(addr: Address | None, addresses: list[Mapping[str, Any]]) -> int | None:
    """The id of a customer's existing address that is this one (same line 1, postal code, city)."""
    if addr is None:
        return None
    want = addr.as_heartland()
    for a in addresses:
        if all(str(a.get(k) or "") == want[k] for k in ("line_1", "postal_code", "city")):
            return int(a["id"])
    return None

