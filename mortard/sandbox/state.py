"""The in-memory model of one Heartland account: records, stock, and how they render as JSON.

Pure data and arithmetic; the sales rules (what an order, invoice or ticket may do) are in
`sales/`, HTTP is in `api.py`.
"""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field, fields
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from mortard.heartland_contract.dialect import Dialect
from mortard.sandbox.table import Table

ZERO = Decimal("0.00")


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(slots=True)
class Rules:
    """Switchable server-side checks (fixture `rules`, `PUT /_sandbox/rules`)."""

    open_requires_balanced: bool = True       # total == payments_total to open
    open_requires_custom_fields: bool = True  # required sales.transaction custom fields filled
    open_requires_address: bool = True        # billing or shipping address present
    prevent_oversell: bool = True             # on_hand may not go negative (invoice, ticket sale)
    ticket_requires_balanced: bool = True     # ticket payments == ticket total (payment_error)

    def update(self, values: dict[str, Any]) -> None:
        known = {f.name for f in fields(self)}
        unknown = set(values) - known
        if unknown:
            raise ValueError(f"unknown rule(s): {', '.join(sorted(unknown))}")
        for key, value in values.items():
            if not isinstance(value, bool):
                raise ValueError(f"rule {key} must be true or false")
            setattr(self, key, value)

    def as_dict(self) -> dict[str, bool]:
        return asdict(self)


@dataclass(slots=True)
class Station:
    id: int
    name: str
    location_id: int


@dataclass(slots=True)
class Location:
    id: int
    public_id: str
    name: str
    stations: list[Station] = field(default_factory=list)


@dataclass(slots=True)
class Item:
    id: int
    public_id: str
    description: str
    price: Decimal
    original_price: Decimal
    active: bool = True
    track_inventory: bool = True
    custom: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class Customer:
    id: int
    first_name: str | None
    last_name: str | None
    email: str | None
    phone: str | None
    created_at: str


@dataclass(slots=True)
class Address:
    id: int
    customer_id: int
    values: dict[str, Any]


@dataclass(slots=True)
class CustomField:
    id: int
    key: str
    name: str
    group_id: str
    required: bool = False
    unique: bool = False
    validation_type: str = "text"


@dataclass(slots=True)
class PaymentType:
    id: int
    name: str


@dataclass(slots=True)
class OrderLine:
    id: int
    order_id: int
    item_id: int
    qty: int
    ship_from_location_id: int | None
    original_unit_price: Decimal
    adjusted_unit_price: Decimal
    description: str
    custom: dict[str, Any]
    qty_invoiced: int = 0

    @property
    def value(self) -> Decimal:
        return self.qty * self.adjusted_unit_price

    @property
    def remaining(self) -> int:
        return self.qty - self.qty_invoiced


@dataclass(slots=True)
class Tax:
    id: int
    order_id: int
    description: str | None
    value: Decimal


@dataclass(slots=True)
class Discount:
    id: int
    order_id: int
    description: str | None
    amount: Decimal


@dataclass(slots=True)
class Payment:
    id: int
    order_id: int
    type: str
    deposit: bool
    amount: Decimal
    payment_type_id: int | None
    custom: dict[str, Any]
    created_at: str


@dataclass(slots=True)
class Order:
    id: int
    public_id: str
    status: str
    customer_id: int
    source_location_id: int
    station_id: int
    billing_address_id: int | None
    shipping_address_id: int | None
    shipping_charge: Decimal
    custom: dict[str, Any]
    created_at: str
    updated_at: str
    lines: dict[int, OrderLine] = field(default_factory=dict)
    taxes: list[Tax] = field(default_factory=list)
    discounts: list[Discount] = field(default_factory=list)
    payments: list[Payment] = field(default_factory=list)
    invoice_ids: list[int] = field(default_factory=list)

    @property
    def total(self) -> Decimal:
        return (sum((line.value for line in self.lines.values()), ZERO)
                + sum((tax.value for tax in self.taxes), ZERO)
                + self.shipping_charge
                - sum((d.amount for d in self.discounts), ZERO))

    @property
    def payments_total(self) -> Decimal:
        return sum((p.amount for p in self.payments), ZERO)


@dataclass(slots=True)
class InvoiceLine:
    id: int
    invoice_id: int
    item_id: int
    qty: int
    order_line_id: int
    unit_price: Decimal


@dataclass(slots=True)
class Invoice:
    id: int
    order_id: int
    customer_id: int
    location_id: int
    station_id: int
    status: str
    custom: dict[str, Any]
    created_at: str
    completed_at: str | None = None
    lines: list[InvoiceLine] = field(default_factory=list)


@dataclass(slots=True)
class TicketLine:
    id: int
    ticket_id: int
    type: str
    item_id: int | None
    qty: int
    unit_price: Decimal
    description: str | None
    value: Decimal


@dataclass(slots=True)
class TicketPayment:
    id: int
    ticket_id: int
    type: str
    payment_type_id: int | None
    amount: Decimal
    deposit: bool


@dataclass(slots=True)
class Ticket:
    id: int
    public_id: str
    status: str
    customer_id: int | None
    station_id: int
    location_id: int
    parent_id: int | None
    affect_inventory: bool
    custom: dict[str, Any]
    created_at: str
    lines: list[TicketLine] = field(default_factory=list)
    payments: list[TicketPayment] = field(default_factory=list)

    @property
    def total(self) -> Decimal:
        return sum((line.value for line in self.lines), ZERO)


class Account:
    """One Heartland account's records. Ids are integers, one counter per record kind."""

    def __init__(self, name: str, token: str, dialect: Dialect, rules: Rules) -> None:
        self.name = name
        self.token = token
        self.dialect = dialect
        self.rules = rules
        # Tables index the attributes that collection filters look records up by (see table.py).
        self.locations: Table[Location] = Table("id")
        self.stations: dict[int, Station] = {}
        self.items: Table[Item] = Table("id", "public_id")
        self.customers: Table[Customer] = Table("id", "email", "phone")
        self.addresses: Table[Address] = Table("id", "customer_id")
        self.custom_fields: dict[int, CustomField] = {}
        self.payment_types: dict[int, PaymentType] = {}
        self.orders: Table[Order] = Table("id", "public_id", "customer_id")
        self.invoices: Table[Invoice] = Table("id", "order_id", "customer_id")
        self.tickets: Table[Ticket] = Table("id", "public_id", "customer_id")
        self.on_hand: dict[tuple[int, int], int] = defaultdict(int)
        self._last_ids: dict[str, int] = defaultdict(int)
        self._committed: dict[tuple[int, int], int] = {}         # (item, location) -> qty, all open orders
        self._holds: dict[int, dict[tuple[int, int], int]] = {}  # order id -> its share of _committed

    # ids -----------------------------------------------------------------------------------------
    def next_id(self, kind: str) -> int:
        self._last_ids[kind] += 1
        return self._last_ids[kind]

    def claim_id(self, kind: str, ident: int | None) -> int:
        """Use a fixture-given id (keeping the counter above it) or allocate one."""
        if ident is None:
            return self.next_id(kind)
        self._last_ids[kind] = max(self._last_ids[kind], ident)
        return ident

    # stock ---------------------------------------------------------------------------------------
    def changed(self, order: Order) -> None:
        """Call after any change to an order or its lines: moves the order's share of committed stock."""
        for key, qty in self._holds.pop(order.id, {}).items():
            self._commit(key, -qty)
        holds = self._order_holds(order)
        for key, qty in holds.items():
            self._commit(key, qty)
        if holds:
            self._holds[order.id] = holds

    def _order_holds(self, order: Order) -> dict[tuple[int, int], int]:
        """What an order commits: the uninvoiced qty of its tracked, distributed lines while open."""
        holds: dict[tuple[int, int], int] = defaultdict(int)
        if order.status != self.dialect.status_open:
            return holds
        for line in order.lines.values():
            item = self.items.get(line.item_id)
            if line.ship_from_location_id is None or item is None or not item.track_inventory:
                continue
            if line.remaining > 0:
                holds[(line.item_id, line.ship_from_location_id)] += line.remaining
        return holds

    def _commit(self, key: tuple[int, int], qty: int) -> None:
        total = self._committed.get(key, 0) + qty
        if total:
            self._committed[key] = total
        else:
            del self._committed[key]

    def committed(self) -> dict[tuple[int, int], int]:
        """Committed qty by (item, location); only keys with some. Read-only."""
        return self._committed

    def inventory_rows(self, items: Iterable[Item] | None = None,
                       locations: Iterable[Location] | None = None) -> list[dict[str, Any]]:
        """One row per tracked item and location, in (item, location) order; `items` and `locations`
        (each in table order) narrow it to those."""
        committed = self._committed
        location_ids = list(self.locations) if locations is None else [loc.id for loc in locations]
        rows = []
        for item in self.items.values() if items is None else items:
            if not item.track_inventory:
                continue
            for location_id in location_ids:
                key = (item.id, location_id)
                on_hand = self.on_hand.get(key, 0)
                held = committed.get(key, 0)
                rows.append({"item_id": item.id, "location_id": location_id, "qty": on_hand,
                             "qty_on_hand": on_hand, "qty_committed": held,
                             "qty_available": on_hand - held})
        return rows

    # lookups ---------------------------------------------------------------------------------------
    def required_custom_keys(self) -> list[str]:
        group = self.dialect.order_custom_field_group
        return [f.key for f in self.custom_fields.values() if f.group_id == group and f.required]

    def custom_keys(self, group: str) -> set[str]:
        return {f.key for f in self.custom_fields.values() if f.group_id == group}
