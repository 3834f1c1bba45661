"""Heartland as mortard knows it (the mirror): what mortard created and last saw of one order,
serialisable to the `orders.mirror` column and rebuildable from Heartland reads after an ambiguous
failure (sync/recovery.py).
"""
from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Mapping

from mortard.sync.model.values import evolve, plain
from mortard.sync.money import CENT


@dataclass(frozen=True, slots=True)
class HLine:
    id: int
    shopify_line_id: int
    item_id: int
    qty: int
    unit_price: Decimal
    original_price: Decimal
    location_id: int | None = None
    qty_invoiced: int = 0


@dataclass(frozen=True, slots=True)
class HPayment:
    id: int
    amount: Decimal
    payment_type_id: int
    # Made in Heartland by someone else (staff): no journal row of mortard's made it (recovery finds
    # these). The planner takes them as Heartland's (PlanInput.staff_payments).
    by_staff: bool = False


@dataclass(frozen=True, slots=True)
class HInvoiceLine:
    id: int
    order_line_id: int
    qty: int


@dataclass(frozen=True, slots=True)
class HInvoice:
    id: int
    location_id: int
    lines: tuple[HInvoiceLine, ...] = ()
    completed: bool = False


@dataclass(frozen=True, slots=True)
class HTicket:
    """A ticket mortard made: a return (`refund_id`, public id `-R<n>`) or a sale of units Shopify added
    to a closed order (`sold`: (Shopify line id, qty) pairs, public id `-S<n>`)."""

    id: int
    public_id: str
    refund_id: int | None
    total: Decimal
    sold: tuple[tuple[int, int], ...] = ()

    @property
    def is_sale(self) -> bool:
        return bool(self.sold)

    def sold_units(self, shopify_line_id: int) -> int:
        return sum(q for line_id, q in self.sold if line_id == shopify_line_id)


@dataclass(frozen=True, slots=True)
class Mirror:
    """What mortard knows Heartland holds for one order."""

    customer_searched: bool = False
    customer_id: int | None = None
    billing_address_id: int | None = None
    shipping_address_id: int | None = None
    order_id: int | None = None
    status: str | None = None
    lines: tuple[HLine, ...] = ()
    tax_total: Decimal = Decimal("0.00")
    shipping_charge: Decimal = Decimal("0.00")
    payments: tuple[HPayment, ...] = ()
    invoices: tuple[HInvoice, ...] = ()
    tickets: tuple[HTicket, ...] = ()
    # Order-level discounts on the Heartland order (`/sales/orders/{id}/discounts`, read with
    # Dialect.order_discounts_listed; mortard itself folds Shopify's discounts into line prices).
    discount_total: Decimal = Decimal("0.00")
    # The order's custom fields as Heartland last showed them (a re-read): staff may fill a required
    # one there. What mortard sent on create is the Shopify order's (plan/inputs.custom_fields).
    custom: tuple[tuple[str, str], ...] = ()

    @property
    def payments_total(self) -> Decimal:
        return sum((p.amount for p in self.payments), Decimal("0.00"))

    @property
    def staff_payment_ids(self) -> frozenset[int]:
        return frozenset(p.id for p in self.payments if p.by_staff)

    @property
    def lines_total(self) -> Decimal:
        return sum((ln.unit_price * ln.qty for ln in self.lines), Decimal("0.00"))

    @property
    def order_total(self) -> Decimal:
        return (self.lines_total + self.tax_total + self.shipping_charge - self.discount_total).quantize(CENT)

    def sold_for(self, shopify_line_id: int) -> int:
        """Units of a Shopify line sold on sale tickets (added after the order closed)."""
        return sum(t.sold_units(shopify_line_id) for t in self.tickets)

    @property
    def return_tickets(self) -> tuple[HTicket, ...]:
        return tuple(t for t in self.tickets if not t.is_sale)

    @property
    def sale_tickets(self) -> tuple[HTicket, ...]:
        return tuple(t for t in self.tickets if t.is_sale)

    def lines_for(self, shopify_line_id: int) -> tuple[HLine, ...]:
        return tuple(ln for ln in self.lines if ln.shopify_line_id == shopify_line_id)

    def replace_line(self, line: HLine) -> Mirror:
        return evolve(self, lines=tuple(line if ln.id == line.id else ln for ln in self.lines))

    def replace_invoice(self, invoice: HInvoice) -> Mirror:
        return evolve(self, invoices=tuple(invoice if i.id == invoice.id else i for i in self.invoices))

    def to_json(self) -> dict[str, Any]:
        return plain(self)

    @staticmethod
    def from_json(data: Mapping[str, Any] | None) -> Mirror:
        if not data:
            return Mirror()
        d = dict(data)
        return Mirror(
            customer_searched=bool(d.get("customer_searched")),
            customer_id=d.get("customer_id"),
            billing_address_id=d.get("billing_address_id"),
            shipping_address_id=d.get("shipping_address_id"),
            order_id=d.get("order_id"),
            status=d.get("status"),
            lines=tuple(HLine(**_decimals(ln, "unit_price", "original_price")) for ln in d.get("lines", ())),
            tax_total=Decimal(str(d.get("tax_total", "0.00"))),
            shipping_charge=Decimal(str(d.get("shipping_charge", "0.00"))),
            payments=tuple(HPayment(**_decimals(p, "amount")) for p in d.get("payments", ())),
            invoices=tuple(HInvoice(id=i["id"], location_id=i["location_id"], completed=i["completed"],
                                    lines=tuple(HInvoiceLine(**il) for il in i.get("lines", ())))
                           for i in d.get("invoices", ())),
            tickets=tuple(HTicket(id=t["id"], public_id=t["public_id"], refund_id=t.get("refund_id"),
                                  total=Decimal(str(t["total"])),
                                  sold=tuple((int(k), int(q)) for k, q in t.get("sold") or ()))
                          for t in d.get("tickets", ())),
            discount_total=Decimal(str(d.get("discount_total", "0.00"))),
            custom=tuple((str(k), str(v)) for k, v in d.get("custom") or ()),
        )


def _decimals(d: Mapping[str, Any], *keys: str) -> dict[str, Any]:
    out = dict(d)
    for k in keys:
        out[k] = Decimal(str(out[k]))
    return out

