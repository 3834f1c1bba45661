"""The Shopify order as the core reasons about it: typed values in the shop's currency, built from the
stored snapshot by `ShopifyOrder.parse` (the parser is `parse.py`), which raises `InvalidOrder` with a
sentence a person can act on.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
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
class Refund:
    id: int
    created_at: datetime | None
    lines: tuple[RefundLine, ...]
    amount: Decimal          # money refunded by successful refund transactions
    gateway: str
    shipping: Decimal        # shipping refunded, before its tax
    discrepancy: Decimal     # other adjustments (refund_discrepancy and the like)
    shipping_tax: Decimal = Decimal("0.00")   # tax refunded with the shipping
    # Whether the order snapshot already reflects this refund (it lists it in `refunds`). A refund that
    # only came as refunds/create is newer than the snapshot: its lines and tax are not yet out of the
    # snapshot's current_* figures.
    in_snapshot: bool = True

    @property
    def tax(self) -> Decimal:
        """All tax this refund gives back: its lines' and its shipping's."""
        return sum((rl.tax for rl in self.lines), self.shipping_tax)

    @staticmethod
    def parse(payload: Mapping[str, Any], currency: str) -> tuple[Refund, tuple[str, ...]]:
        """A refunds/create payload on its own (the shop's currency given): the refund, and what of its
        money exists only in another currency."""
        from mortard.sync.model.parse import parse_refund  # the parser builds these values: no cycle

        problems: list[str] = []
        try:
            return parse_refund(payload, currency, problems), tuple(problems)
        except InvalidOrder:
            raise
        except (KeyError, TypeError, ValueError, InvalidOperation, AttributeError) as exc:
            raise InvalidOrder(f"refund payload is malformed: {type(exc).__name__}: {str(exc)[:200]}") from None


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


@dataclass(frozen=True, slots=True)
class ShopifyOrder:
    id: int
    name: str
    currency: str            # the shop's currency: every amount below is in it
    updated_at: datetime | None
    test: bool
    cancelled: bool
    tags: tuple[str, ...]
    note_attributes: dict[str, str]
    customer: Customer
    billing_address: Address | None
    shipping_address: Address | None
    location_id: int | None
    lines: tuple[ShopifyLine, ...]
    taxes_included: bool
    total_price: Decimal
    # current_*: after every refund known, including those newer than the snapshot (see Refund.in_snapshot).
    current_total_price: Decimal
    current_total_tax: Decimal
    shipping: Decimal        # current shipping charge (after shipping discounts)
    payments: tuple[Payment, ...]   # money received, by gateway, before refunds
    refunds: tuple[Refund, ...]     # oldest first
    presentment_currency: str = ""  # the buyer's currency (transactions are in it)
    # Money Shopify sent only in another currency than the shop's, one sentence each: such an order can't
    # be balanced in the shop's currency, and waits for a person (never a sum of mixed currencies).
    money_problems: tuple[str, ...] = ()

    @property
    def refunded(self) -> Decimal:
        return sum((r.amount for r in self.refunds), Decimal("0.00"))

    @staticmethod
    def parse(snapshot: Mapping[str, Any], refunds: Mapping[str, Any] | None = None,
              transactions: Mapping[str, Any] | None = None) -> ShopifyOrder:
        from mortard.sync.model.parse import parse_order  # the parser builds these values: no cycle

        try:
            return parse_order(snapshot, refunds or {}, transactions or {})
        except InvalidOrder:
            raise
        except (KeyError, TypeError, ValueError, InvalidOperation, AttributeError) as exc:
            raise InvalidOrder(f"order payload is malformed: {type(exc).__name__}: {str(exc)[:200]}") from None


def matching_address(addr: Address | None, addresses: list[Mapping[str, Any]]) -> int | None:
    """The id of a customer's existing address that is this one (same line 1, postal code, city)."""
    if addr is None:
        return None
    want = addr.as_heartland()
    for a in addresses:
        if all(str(a.get(k) or "") == want[k] for k in ("line_1", "postal_code", "city")):
            return int(a["id"])
    return None

