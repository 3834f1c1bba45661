"""Carrying out one planned mutation: journal it, send it, record what Heartland answered.

The journal row is written before the request leaves (`RunJournal.begin`), so a crash at any point
leaves evidence: a row still `sent` (or `ambiguous` after a timeout) makes the next attempt read
Heartland first (`read_mirror`) instead of sending a create again.
"""
from __future__ import annotations

import re
from dataclasses import replace
from decimal import Decimal
from typing import Any

from mortard.heartland.dialect import Dialect
from mortard.heartland.errors import HeartlandAmbiguous, HeartlandError
from mortard.sync.actions import (
    Action, AddAddress, AddInvoiceLine, AddLine, AddPayment, AddTax, CompleteInvoice, CreateCustomer,
    CreateInvoice, CreateOrder, CreateTicket, DeleteLine, SetShipping, SetStatus, UpdateLine,
)
from mortard.sync.apply import apply_result
from mortard.sync.journal import RunJournal
from mortard.sync.model import HInvoice, HInvoiceLine, HLine, HPayment, HTicket, Mirror, ShopifyOrder

# Custom field on Heartland order lines that names the Shopify line item (rebuilds the mapping).
LINE_KEY_FIELD = "shopify_line_id"


async def execute(client: Any, journal: RunJournal, dialect: Dialect, mirror: Mirror, action: Action,
                  journal_id: int) -> Mirror:
    """Send one journaled mutation and return the mirror with its effect; raises the client's errors.
    The answer is buffered in `journal` and written with the run's next durable write."""
    try:
        new_id, document = await _send(client, mirror, action)
    except HeartlandAmbiguous as exc:
        journal.failed(journal_id, ambiguous=True, error=str(exc), http_status=exc.status, action=action)
        raise
    except HeartlandError as exc:
        journal.failed(journal_id, ambiguous=False, error=str(exc), http_status=exc.status,
                       response={"error": exc.code, "message": exc.message, "details": exc.details}, action=action)
        raise
    journal.answered(journal_id, new_id, document, action)
    return apply_result(mirror, action, new_id, dialect)


async def _send(c: Any, m: Mirror, a: Action) -> tuple[int | None, dict[str, Any] | None]:
    if isinstance(a, CreateCustomer):
        cid = await c.create_customer({k: v for k, v in a.fields.items() if v is not None})
        return cid, {"kind": "customer"}
    if isinstance(a, AddAddress):
        return await c.add_customer_address(a.customer_id, a.fields), None
    if isinstance(a, CreateOrder):
        oid = await c.create_order(a.fields)
        return oid, {"kind": "order", "public_id": a.public_id}
    if isinstance(a, AddLine):
        fields: dict[str, Any] = {"item_id": a.item_id, "qty": a.qty, "original_unit_price": a.original_price,
                                  "adjusted_unit_price": a.unit_price, "description": a.description,
                                  "custom": {LINE_KEY_FIELD: str(a.shopify_line_id)}}
        if a.location_id is not None:
            fields["ship_from_location_id"] = a.location_id
        return await c.add_order_line(a.order_id, fields), None
    if isinstance(a, UpdateLine):
        body: dict[str, Any] = {}
        if a.qty is not None:
            body["qty"] = a.qty
        if a.location_id is not None:
            body["ship_from_location_id"] = a.location_id
        await c.update_order_line(a.order_id, a.line_id, body)
        return None, None
    if isinstance(a, DeleteLine):
        await c.delete_order_line(a.order_id, a.line_id)
        return None, None
    if isinstance(a, AddTax):
        return await c.add_order_tax(a.order_id, a.description, a.value), None
    if isinstance(a, SetShipping):
        await c.update_order(a.order_id, {"shipping_charge": a.value})
        return None, None
    if isinstance(a, AddPayment):
        pid = await c.add_order_payment(a.order_id, a.amount, a.payment_type_id)
        return pid, {"kind": "payment", "amount": a.amount}
    if isinstance(a, SetStatus):
        await c.set_order_status(a.order_id, a.status)
        return None, None
    if isinstance(a, CreateInvoice):
        iid = await c.create_invoice(a.order_id, a.customer_id, a.location_id, a.station_id)
        return iid, {"kind": "invoice", "location_id": a.location_id}
    if isinstance(a, AddInvoiceLine):
        return await c.add_invoice_line(a.invoice_id, a.item_id, a.qty, a.order_line_id), None
    if isinstance(a, CompleteInvoice):
        await c.complete_invoice(a.invoice_id)
        return None, None
    if isinstance(a, CreateTicket):
        tid = await c.create_ticket(ticket_fields(a, c.dialect))
        total = sum((ln.unit_price * ln.qty for ln in a.lines), a.tax)
        return tid, {"kind": "ticket", "public_id": a.public_id, "amount": total,
                     "detail": {"refund_id": a.refund_id, "sold": [list(x) for x in a.sold]}}
    raise TypeError(f"no Heartland call for {type(a).__name__}")


def ticket_fields(a: CreateTicket, dialect: Dialect) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "public_id": a.public_id, "station_id": a.station_id, "customer_id": a.customer_id, "status": "complete",
        "item_lines": [{"type": "ItemLine", "item_id": ln.item_id, "qty": ln.qty, "unit_price": ln.unit_price,
                        "description": ln.description} for ln in a.lines],
        "tax_lines": [{"type": "TaxLine", "description": "Sales Tax", "value": a.tax}] if a.tax else [],
        "payments": [{"type": dialect.ticket_payment_type, "payment_type_id": a.payment_type_id,
                      "amount": a.payment, "deposit": False}] if a.payment else [],
    }
    if a.parent_invoice_id is not None and dialect.ticket_parent_field:
        fields[dialect.ticket_parent_field] = a.parent_invoice_id
    if not a.restock:
        fields[dialect.ticket_no_restock_field] = False
    return fields


async def read_mirror(client: Any, public_id: str, known: Mirror, order: ShopifyOrder) -> Mirror:
    """Rebuild the mirror from Heartland after an ambiguous failure or a crash: never guess."""
    dialect: Dialect = client.dialect
    found = await client.find_orders(public_id)
    if not found:
        # No order yet. A customer create may have landed without us seeing the id: search again.
        return Mirror(customer_searched=known.customer_id is not None, customer_id=known.customer_id,
                      billing_address_id=known.billing_address_id, shipping_address_id=known.shipping_address_id)
    h = min(found, key=lambda o: int(o["id"]))
    order_id = int(h["id"])
    lines = []
    for ln in await client.list_order_lines(order_id):
        key = (ln.get("custom") or {}).get(LINE_KEY_FIELD)
        if key is None or int(ln.get("qty") or 0) == 0 and not ln.get("qty_invoiced"):
            continue
        lines.append(HLine(int(ln["id"]), int(key), int(ln["item_id"]), int(ln["qty"]),
                           Decimal(str(ln["adjusted_unit_price"])), Decimal(str(ln.get("original_unit_price") or ln["adjusted_unit_price"])),
                           int(ln["ship_from_location_id"]) if ln.get("ship_from_location_id") else None,
                           int(ln.get("qty_invoiced") or 0)))
    taxes = sum((Decimal(str(t["value"])) for t in await client.list_order_taxes(order_id)), Decimal("0.00"))
    payments = tuple(HPayment(int(p["id"]), Decimal(str(p["amount"])), int(p["payment_type_id"]))
                     for p in await client.list_order_payments(order_id))
    invoices = []
    for inv in await client.list_invoices(order_id):
        loc = inv.get(dialect.invoice_location_field)
        link = dialect.invoice_line_order_line_field or "order_line_id"
        inv_lines = tuple(HInvoiceLine(int(il["id"]), int(il.get(link) or 0), int(il["qty"]))
                          for il in inv.get("lines") or ())
        invoices.append(HInvoice(int(inv["id"]), int(loc) if loc is not None else 0, inv_lines,
                                 inv.get("status") == dialect.invoice_status_complete))
    tickets = []
    for n in range(1, len(order.refunds) + 1):
        found_tickets = await client.find_tickets(f"{public_id}-R{n}")
        if not found_tickets:
            break   # tickets are numbered 1, 2, ... as they are made
        t = min(found_tickets, key=lambda t: int(t["id"]))
        tickets.append(HTicket(int(t["id"]), str(t["public_id"]), _ticket_refund_id(t, order, n),
                               Decimal(str(t.get("total") or 0))))
    n = 1
    # Sale tickets exist only for orders Heartland closed (units added after it closed).
    while h.get("status") == dialect.status_closed and n <= _MAX_SALE_TICKETS:
        found_tickets = await client.find_tickets(f"{public_id}-S{n}")
        if not found_tickets:
            break   # sale tickets too are numbered 1, 2, ... as they are made
        t = min(found_tickets, key=lambda t: int(t["id"]))
        tickets.append(HTicket(int(t["id"]), str(t["public_id"]), None, Decimal(str(t.get("total") or 0)),
                               _ticket_sold(t)))
        n += 1
    return replace(
        Mirror(), customer_searched=True, customer_id=h.get("customer_id"),
        billing_address_id=h.get("billing_address_id"), shipping_address_id=h.get("shipping_address_id"),
        order_id=order_id, status=h.get("status"), lines=tuple(lines), tax_total=taxes,
        shipping_charge=Decimal(str(h.get("shipping_charge") or "0.00")), payments=payments,
        invoices=tuple(invoices), tickets=tuple(tickets),
    )


_REFUND_MARK = re.compile(r"\bRefund (\d+) of\b")
_SALE_MARK = re.compile(r"\bSale (\d+) of\b")
_MAX_SALE_TICKETS = 1000   # a bound on the look-up loop, far above one per location per change


def _ticket_sold(ticket: dict[str, Any]) -> tuple[tuple[int, int], ...]:
    """The units a sale ticket sold, by Shopify line: its item lines say "Sale <line id> of <order>"."""
    sold: dict[int, int] = {}
    for line in ticket.get("lines") or ():
        found = _SALE_MARK.search(str(line.get("description") or ""))
        if found and int(line.get("qty") or 0) > 0:
            key = int(found.group(1))
            sold[key] = sold.get(key, 0) + int(line["qty"])
    return tuple(sorted(sold.items()))


def _ticket_refund_id(ticket: dict[str, Any], order: ShopifyOrder, n: int) -> int | None:
    """Which Shopify refund a ticket records: its lines say "Refund <id> of <order>"; tickets made
    before that convention are matched by position."""
    for line in ticket.get("lines") or ():
        found = _REFUND_MARK.search(str(line.get("description") or ""))
        if found:
            return int(found.group(1))
    return order.refunds[n - 1].id if n <= len(order.refunds) else None
