"""How a successful Heartland mutation changes what mortard knows. Pure: (mirror, action, id) -> mirror."""
from __future__ import annotations


from mortard.heartland.dialect import Dialect
from mortard.sync.actions import (
    Action, AddAddress, AddInvoiceLine, AddLine, AddPayment, AddTax, CompleteInvoice, CreateCustomer,
    CreateInvoice, CreateOrder, CreateTicket, DeleteLine, SetShipping, SetStatus, UpdateLine,
)
from mortard.sync.model import HInvoice, HInvoiceLine, HLine, HPayment, HTicket, Mirror, evolve


def apply_result(m: Mirror, action: Action, new_id: int | None, dialect: Dialect) -> Mirror:
    if isinstance(action, CreateCustomer):
        return evolve(m, customer_searched=True, customer_id=new_id)
    if isinstance(action, AddAddress):
        if action.role == "both":
            return evolve(m, billing_address_id=new_id, shipping_address_id=new_id)
        if action.role == "billing":
            return evolve(m, billing_address_id=new_id)
        return evolve(m, shipping_address_id=new_id)
    if isinstance(action, CreateOrder):
        return evolve(m, order_id=new_id, status=dialect.status_pending,
                       shipping_charge=action.fields.get("shipping_charge") or m.shipping_charge)
    if isinstance(action, AddLine):
        assert new_id is not None
        line = HLine(new_id, action.shopify_line_id, action.item_id, action.qty, action.unit_price,
                     action.original_price, action.location_id)
        return evolve(m, lines=m.lines + (line,))
    if isinstance(action, UpdateLine):
        line = next(ln for ln in m.lines if ln.id == action.line_id)
        if action.qty is not None:
            line = evolve(line, qty=action.qty)
        if action.location_id is not None:
            line = evolve(line, location_id=action.location_id)
        if line.qty == 0 and line.qty_invoiced == 0:
            return _maybe_closed(evolve(m, lines=tuple(ln for ln in m.lines if ln.id != line.id)), dialect)
        return _maybe_closed(m.replace_line(line), dialect)
    if isinstance(action, DeleteLine):
        return _maybe_closed(evolve(m, lines=tuple(ln for ln in m.lines if ln.id != action.line_id)), dialect)
    if isinstance(action, AddTax):
        return evolve(m, tax_total=m.tax_total + action.value)
    if isinstance(action, SetShipping):
        return evolve(m, shipping_charge=action.value)
    if isinstance(action, AddPayment):
        assert new_id is not None
        return evolve(m, payments=m.payments + (HPayment(new_id, action.amount, action.payment_type_id),))
    if isinstance(action, SetStatus):
        return evolve(m, status=action.status)
    if isinstance(action, CreateInvoice):
        assert new_id is not None
        return evolve(m, invoices=m.invoices + (HInvoice(new_id, action.location_id),))
    if isinstance(action, AddInvoiceLine):
        assert new_id is not None
        inv = next(i for i in m.invoices if i.id == action.invoice_id)
        inv = evolve(inv, lines=inv.lines + (HInvoiceLine(new_id, action.order_line_id, action.qty),))
        return m.replace_invoice(inv)
    if isinstance(action, CompleteInvoice):
        inv = next(i for i in m.invoices if i.id == action.invoice_id)
        m = m.replace_invoice(evolve(inv, completed=True))
        invoiced = {il.order_line_id: il.qty for il in inv.lines}
        lines = tuple(evolve(ln, qty_invoiced=ln.qty_invoiced + invoiced.get(ln.id, 0)) for ln in m.lines)
        m = evolve(m, lines=lines)
        if all(ln.qty == ln.qty_invoiced for ln in lines):
            m = evolve(m, status=dialect.status_closed)  # Heartland closes a fully invoiced order
        return m
    if isinstance(action, CreateTicket):
        assert new_id is not None
        total = sum((ln.unit_price * ln.qty for ln in action.lines), action.tax)
        return evolve(m, tickets=m.tickets + (HTicket(new_id, action.public_id, action.refund_id, total,
                                                               action.sold),))
    raise TypeError(f"no mirror rule for {type(action).__name__}")


def _maybe_closed(m: Mirror, dialect: Dialect) -> Mirror:
    """Heartland closes an open order when shrinking or deleting its last uninvoiced line leaves every
    remaining line fully invoiced."""
    lines = [ln for ln in m.lines if ln.qty > 0]
    if (m.status == dialect.status_open and lines and any(ln.qty_invoiced for ln in lines)
            and all(ln.qty <= ln.qty_invoiced for ln in lines)):
        return evolve(m, status=dialect.status_closed)
    return m
