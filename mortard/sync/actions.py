"""What the planner asks for: reads it needs, Heartland mutations, or a verdict. Plain values."""
from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, ClassVar

from mortard.sync.model import plain


@dataclass(frozen=True, slots=True)
class Reason:
    """Why an order waits for a person: a stable code and a sentence for staff."""

    code: str
    message: str


class Action:
    kind: ClassVar[str]
    mutation: ClassVar[bool] = True

    def describe(self) -> dict[str, Any]:
        return {"action": self.kind, **plain(self)}


# -- reads the plan needs before it can go on ---------------------------------------------------

@dataclass(frozen=True, slots=True)
class LoadItems(Action):
    kind: ClassVar[str] = "load_items"
    mutation: ClassVar[bool] = False
    skus: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class LoadStock(Action):
    kind: ClassVar[str] = "load_stock"
    mutation: ClassVar[bool] = False
    item_ids: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class FindCustomer(Action):
    kind: ClassVar[str] = "find_customer"
    mutation: ClassVar[bool] = False
    email: str
    phone: str


# -- mutations (each journaled before it is sent) -------------------------------------------------

@dataclass(frozen=True, slots=True)
class CreateCustomer(Action):
    kind: ClassVar[str] = "create_customer"
    fields: dict[str, Any]


@dataclass(frozen=True, slots=True)
class AddAddress(Action):
    kind: ClassVar[str] = "add_address"
    role: str                 # "billing", "shipping" or "both"
    customer_id: int
    fields: dict[str, Any]


@dataclass(frozen=True, slots=True)
class CreateOrder(Action):
    kind: ClassVar[str] = "create_order"
    public_id: str
    fields: dict[str, Any]


@dataclass(frozen=True, slots=True)
class AddLine(Action):
    kind: ClassVar[str] = "add_line"
    order_id: int
    shopify_line_id: int
    item_id: int
    qty: int
    unit_price: Decimal
    original_price: Decimal
    location_id: int | None
    description: str = ""


@dataclass(frozen=True, slots=True)
class UpdateLine(Action):
    kind: ClassVar[str] = "update_line"
    order_id: int
    line_id: int
    qty: int | None = None
    location_id: int | None = None


@dataclass(frozen=True, slots=True)
class DeleteLine(Action):
    kind: ClassVar[str] = "delete_line"
    order_id: int
    line_id: int


@dataclass(frozen=True, slots=True)
class AddTax(Action):
    kind: ClassVar[str] = "add_tax"
    order_id: int
    value: Decimal
    description: str = "Sales Tax"


@dataclass(frozen=True, slots=True)
class SetShipping(Action):
    kind: ClassVar[str] = "set_shipping"
    order_id: int
    value: Decimal


@dataclass(frozen=True, slots=True)
class AddPayment(Action):
    kind: ClassVar[str] = "add_payment"
    order_id: int
    amount: Decimal
    payment_type_id: int


@dataclass(frozen=True, slots=True)
class SetStatus(Action):
    kind: ClassVar[str] = "set_status"
    order_id: int
    status: str


@dataclass(frozen=True, slots=True)
class CreateInvoice(Action):
    kind: ClassVar[str] = "create_invoice"
    order_id: int
    customer_id: int
    location_id: int
    station_id: int


@dataclass(frozen=True, slots=True)
class AddInvoiceLine(Action):
    kind: ClassVar[str] = "add_invoice_line"
    invoice_id: int
    order_line_id: int
    item_id: int
    qty: int


@dataclass(frozen=True, slots=True)
class CompleteInvoice(Action):
    kind: ClassVar[str] = "complete_invoice"
    invoice_id: int


@dataclass(frozen=True, slots=True)
class TicketLine:
    item_id: int
    qty: int
    unit_price: Decimal
    description: str = ""


@dataclass(frozen=True, slots=True)
class CreateTicket(Action):
    kind: ClassVar[str] = "create_ticket"
    refund_id: int | None
    public_id: str
    customer_id: int
    station_id: int
    lines: tuple[TicketLine, ...]
    tax: Decimal
    payment: Decimal
    payment_type_id: int
    parent_invoice_id: int | None = None
    restock: bool = True
    # A sale ticket (units added to a closed order): (Shopify line id, qty) sold, and the location its
    # station belongs to, where the units leave stock.
    sold: tuple[tuple[int, int], ...] = ()
    location_id: int | None = None


@dataclass(frozen=True, slots=True)
class Plan:
    """The next steps, or (when there are none) the state the order has reached and why."""

    actions: tuple[Action, ...] = ()
    state: str = "received"
    reasons: tuple[Reason, ...] = field(default_factory=tuple)

    @property
    def converged(self) -> bool:
        return not self.actions


def _mutations() -> tuple[type[Action], ...]:
    # From this module's names: `dataclass(slots=True)` makes a new class, so __subclasses__() would
    # also list the discarded originals.
    return tuple(c for c in globals().values()
                 if isinstance(c, type) and issubclass(c, Action) and c is not Action and c.mutation)


# Every kind of Heartland mutation. `apply` (mirror rules), `heartland.gateway` (requests) and
# `operator.diff` (the operator's one-line text) each keep one entry per kind; their tests check that
# none is missing.
MUTATIONS: tuple[type[Action], ...] = _mutations()
