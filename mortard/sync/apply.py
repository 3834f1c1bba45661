"""How a successful Heartland mutation changes what mortard knows. Pure: (mirror, action, id) -> mirror.

One rule per mutation kind (`RULES`, checked complete against `actions.MUTATIONS` by the tests).
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from mortard.heartland_contract.dialect import Dialect
from mortard.sync.actions import (
    Action, AddAddress, AddInvoiceLine, AddLine, AddPayment, AddTax, CompleteInvoice, CreateCustomer,
    CreateInvoice, CreateOrder, CreateTicket, DeleteLine, SetShipping, SetStatus, UpdateLine,
)
from mortard.sync.model import HInvoice, HInvoiceLine, HLine, HPayment, HTicket, Mirror, evolve

Rule = Callable[[Mirror, Any, Any, Dialect], Mirror]   # (mirror, action, new id, dialect) -> mirror


def apply_result(m: Mirror, action: Action, new_id: int | None, dialect: Dialect) -> Mirror:
    rule = RULES.get(type(action))
    if rule is None:
        raise TypeError(f"no mirror rule for {type(action).__name__}")
    return rule(m, action, new_id, dialect)


def _customer(m: Mirror, a: CreateCustomer, new_id: int | None, d: Dialect) -> Mirror:
    return evolve(m, customer_searched=True, customer_id=new_id)


def _address(m: Mirror, a: AddAddress, new_id: int | None, d: Dialect) -> Mirror:
    if a.role == "both":
        return evolve(m, billing_address_id=new_id, shipping_address_id=new_id)
    if a.role == "billing":
        return evolve(m, billing_address_id=new_id)
    return evolve(m, shipping_address_id=new_id)


def _order(m: Mirror, a: CreateOrder, new_id: int | None, d: Dialect) -> Mirror:
    return evolve(m, order_id=new_id, status=d.status_pending,
                  shipping_charge=a.fields.get("shipping_charge") or m.shipping_charge)


def _line(m: Mirror, a: AddLine, new_id: int | None, d: Dialect) -> Mirror:
    assert new_id is not None
    line = HLine(new_id, a.shopify_line_id, a.item_id, a.qty, a.unit_price, a.original_price, a.location_id)
    return evolve(m, lines=m.lines + (line,))


def _update_line(m: Mirror, a: UpdateLine, new_id: int | None, d: Dialect) -> Mirror:
    line = next(ln for ln in m.lines if ln.id == a.line_id)
    if a.qty is not None:
        line = evolve(line, qty=a.qty)
    if a.location_id is not None:
        line = evolve(line, location_id=a.location_id)
    if line.qty == 0 and line.qty_invoiced == 0:
        return _maybe_closed(evolve(m, lines=tuple(ln for ln in m.lines if ln.id != line.id)), d)
    return _maybe_closed(m.replace_line(line), d)


def _delete_line(m: Mirror, a: DeleteLine, new_id: int | None, d: Dialect) -> Mirror:
    return _maybe_closed(evolve(m, lines=tuple(ln for ln in m.lines if ln.id != a.line_id)), d)


def _tax(m: Mirror, a: AddTax, new_id: int | None, d: Dialect) -> Mirror:
    return evolve(m, tax_total=m.tax_total + a.value)


def _shipping(m: Mirror, a: SetShipping, new_id: int | None, d: Dialect) -> Mirror:
    return evolve(m, shipping_charge=a.value)


def _payment(m: Mirror, a: AddPayment, new_id: int | None, d: Dialect) -> Mirror:
    assert new_id is not None
    return evolve(m, payments=m.payments + (HPayment(new_id, a.amount, a.payment_type_id),))


def _status(m: Mirror, a: SetStatus, new_id: int | None, d: Dialect) -> Mirror:
    return evolve(m, status=a.status)


def _invoice(m: Mirror, a: CreateInvoice, new_id: int | None, d: Dialect) -> Mirror:
    assert new_id is not None
    return evolve(m, invoices=m.invoices + (HInvoice(new_id, a.location_id),))


def _invoice_line(m: Mirror, a: AddInvoiceLine, new_id: int | None, d: Dialect) -> Mirror:
    assert new_id is not None
    inv = next(i for i in m.invoices if i.id == a.invoice_id)
    inv = evolve(inv, lines=inv.lines + (HInvoiceLine(new_id, a.order_line_id, a.qty),))
    return m.replace_invoice(inv)


def _complete_invoice(m: Mirror, a: CompleteInvoice, new_id: int | None, d: Dialect) -> Mirror:
    inv = next(i for i in m.invoices if i.id == a.invoice_id)
    m = m.replace_invoice(evolve(inv, completed=True))
    invoiced = {il.order_line_id: il.qty for il in inv.lines}
    lines = tuple(evolve(ln, qty_invoiced=ln.qty_invoiced + invoiced.get(ln.id, 0)) for ln in m.lines)
    m = evolve(m, lines=lines)
    if all(ln.qty == ln.qty_invoiced for ln in lines):
        m = evolve(m, status=d.status_closed)  # Heartland closes a fully invoiced order
    return m


def _ticket(m: Mirror, a: CreateTicket, new_id: int | None, d: Dialect) -> Mirror:
    assert new_id is not None
    total = sum((ln.unit_price * ln.qty for ln in a.lines), a.tax)
    return evolve(m, tickets=m.tickets + (HTicket(new_id, a.public_id, a.refund_id, total, a.sold),))


RULES: dict[type[Action], Rule] = {
    CreateCustomer: _customer, AddAddress: _address, CreateOrder: _order, AddLine: _line,
    UpdateLine: _update_line, DeleteLine: _delete_line, AddTax: _tax, SetShipping: _shipping,
    AddPayment: _payment, SetStatus: _status, CreateInvoice: _invoice, AddInvoiceLine: _invoice_line,
    CompleteInvoice: _complete_invoice, CreateTicket: _ticket,
}


def _maybe_closed(m: Mirror, dialect: Dialect) -> Mirror:
    """Heartland closes an open order when shrinking or deleting its last uninvoiced line leaves every
    remaining line fully invoiced."""
    lines = [ln for ln in m.lines if ln.qty > 0]
    if (m.status == dialect.status_open and lines and any(ln.qty_invoiced for ln in lines)
            and all(ln.qty <= ln.qty_invoiced for ln in lines)):
        return evolve(m, status=dialect.status_closed)
    return m
