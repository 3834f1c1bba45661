"""Invoices of a sales order: one per location, filled with the order's lines and completed, taking the
units out of stock (`docs/heartland-contract.md`).

Every function validates fully before it changes anything, so a refused request leaves no trace
(apart from, at most, a skipped id).
"""
from __future__ import annotations

from collections import defaultdict
from typing import Any

from mortard.sandbox.errors import invalid, validation
from mortard.sandbox.sales.orders import check_custom_keys, maybe_close, touch, units_on_invoices
from mortard.sandbox.state import Account, Invoice, InvoiceLine, Order, OrderLine, now_iso
from mortard.sandbox.values import custom, integer, ref, text


def create_invoice(account: Account, body: dict[str, Any]) -> Invoice:
    d = account.dialect
    order_id = ref(body, "order_id", account.orders, required=True)
    order = account.orders[order_id]  # type: ignore[index]
    if order.status != d.status_open:
        raise invalid("order_id", f"order is {order.status}; only open orders can be invoiced")
    customer_id = ref(body, "customer_id", account.customers, required=False) or order.customer_id
    location_id = ref(body, d.invoice_location_field, account.locations, required=True)
    station_id = ref(body, "station_id", account.stations, required=True)
    if account.stations[station_id].location_id != location_id:  # type: ignore[index]
        raise invalid("station_id", f"is not a station of location {location_id}")
    custom_values = custom(body)
    check_custom_keys(account, custom_values)
    invoice = Invoice(id=account.next_id("invoice"), order_id=order.id, customer_id=customer_id,
                      location_id=location_id, station_id=station_id,  # type: ignore[arg-type]
                      status="pending", custom=custom_values, created_at=now_iso())
    account.invoices[invoice.id] = invoice
    order.invoice_ids.append(invoice.id)
    return invoice


def add_invoice_line(account: Account, invoice: Invoice, body: dict[str, Any]) -> InvoiceLine:
    d = account.dialect
    if invoice.status == d.invoice_status_complete:
        raise invalid("status", "invoice is complete")
    if text(body, "type", "ItemLine") != "ItemLine":
        raise invalid("type", "must be 'ItemLine'")
    order = account.orders[invoice.order_id]
    qty = integer(body, "qty", minimum=1)
    field = d.invoice_line_order_line_field
    if field:
        line_id = integer(body, field)
        line = order.lines.get(line_id)
        if line is None:
            raise invalid(field, f"is not a line of order {order.id}")
    else:
        line = _line_for_item(account, order, invoice, body, qty)
        field = "item_id"
    if "item_id" in body and body["item_id"] != line.item_id:
        raise invalid("item_id", f"does not match order line {line.id}")
    if line.ship_from_location_id != invoice.location_id:
        raise invalid(field, f"order line {line.id} is not distributed to location {invoice.location_id}")
    if line.qty - units_on_invoices(account, order, line) < qty:
        raise invalid("qty", f"exceeds the uninvoiced quantity of order line {line.id}")
    invoice_line = InvoiceLine(id=account.next_id("invoice_line"), invoice_id=invoice.id,
                               item_id=line.item_id, qty=qty, order_line_id=line.id,
                               unit_price=line.adjusted_unit_price)
    invoice.lines.append(invoice_line)
    return invoice_line


def _line_for_item(account: Account, order: Order, invoice: Invoice, body: dict[str, Any],
                   qty: int) -> OrderLine:
    item_id = integer(body, "item_id")
    for line in order.lines.values():
        if (line.item_id == item_id and line.ship_from_location_id == invoice.location_id
                and line.qty - units_on_invoices(account, order, line) >= qty):
            return line
    raise invalid("item_id", f"no line of order {order.id} at location {invoice.location_id} can take it")


def update_invoice(account: Account, invoice: Invoice, body: dict[str, Any]) -> None:
    d = account.dialect
    status = text(body, "status", invoice.status)
    if status == invoice.status:
        return
    if invoice.status == d.invoice_status_complete or status != d.invoice_status_complete:
        raise invalid("status", f"cannot change from {invoice.status!r} to {status!r}")
    order = account.orders[invoice.order_id]
    if order.status != d.status_open:
        raise invalid("order_id", f"order is {order.status}")
    if not invoice.lines:
        raise invalid("lines", "an invoice needs at least one line")
    taking: dict[int, int] = defaultdict(int)
    for il in invoice.lines:
        line = order.lines.get(il.order_line_id)
        if line is None or line.ship_from_location_id != invoice.location_id or line.remaining < il.qty:
            raise invalid("qty", f"invoice line {il.id} no longer fits its order line")
        if account.items[il.item_id].track_inventory:
            taking[il.item_id] += il.qty
    check_stock(account, invoice.location_id, taking)
    for il in invoice.lines:
        order.lines[il.order_line_id].qty_invoiced += il.qty
    for item_id, qty in taking.items():
        account.on_hand[(item_id, invoice.location_id)] -= qty
    invoice.status = d.invoice_status_complete
    invoice.completed_at = now_iso()
    touch(account, order)
    maybe_close(account, order)


def check_stock(account: Account, location_id: int, taking: dict[int, int]) -> None:
    if not account.rules.prevent_oversell:
        return
    short = {account.items[item_id].public_id: account.on_hand.get((item_id, location_id), 0)
             for item_id, qty in taking.items()
             if qty > 0 and account.on_hand.get((item_id, location_id), 0) < qty}
    if short:
        raise validation("not enough stock", {"qty": [f"{sku}: only {have} on hand at location "
                                                      f"{location_id}" for sku, have in short.items()]})

