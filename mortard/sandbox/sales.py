"""Sales orders, invoices and tickets: the state machine and stock rules of `docs/heartland-contract.md`.

Every function validates fully before it changes anything, so a refused request leaves no trace
(apart from, at most, a skipped id).
"""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import replace
from typing import Any, TypeVar

from mortard.sandbox.errors import ApiError, invalid, payment_error, validation
from mortard.sandbox.state import (ZERO, Account, Discount, Invoice, InvoiceLine, Order, OrderLine,
                                   Payment, Tax, Ticket, TicketLine, TicketPayment, now_iso)
from mortard.sandbox.values import boolean, custom, integer, money, ref, text

T = TypeVar("T")


# orders -------------------------------------------------------------------------------------------
def create_order(account: Account, body: dict[str, Any]) -> Order:
    d = account.dialect
    status = text(body, "status", d.status_pending)
    if status != d.status_pending:
        raise invalid("status", f"must be {d.status_pending!r} on create")
    customer_id = ref(body, "customer_id", account.customers, required=True)
    values = _order_fields(account, body, customer_id)
    ident = account.next_id("order")
    stamp = now_iso()
    order = Order(id=ident, public_id=text(body, "public_id") or str(ident), status=status,
                  customer_id=customer_id,  # type: ignore[arg-type]
                  source_location_id=ref(body, "source_location_id", account.locations, required=True),  # type: ignore[arg-type]
                  station_id=ref(body, "station_id", account.stations, required=True),  # type: ignore[arg-type]
                  billing_address_id=values.get("billing_address_id"),
                  shipping_address_id=values.get("shipping_address_id"),
                  shipping_charge=values.get("shipping_charge", ZERO),
                  custom=values.get("custom", {}), created_at=stamp, updated_at=stamp)
    account.orders[order.id] = order
    return order


def _order_fields(account: Account, body: dict[str, Any], customer_id: int | None) -> dict[str, Any]:
    """The editable header fields present in `body`, validated."""
    out: dict[str, Any] = {}
    for key in ("billing_address_id", "shipping_address_id"):
        if key in body:
            ident = ref(body, key, account.addresses, required=False)
            if ident is not None and account.addresses[ident].customer_id != customer_id:
                raise invalid(key, "belongs to another customer")
            out[key] = ident
    if "shipping_charge" in body:
        out["shipping_charge"] = money(body, "shipping_charge", ZERO)
    if "public_id" in body and text(body, "public_id"):
        out["public_id"] = text(body, "public_id")
    for key, table in (("source_location_id", account.locations), ("station_id", account.stations)):
        if key in body:
            out[key] = ref(body, key, table, required=True)
    values = custom(body)
    if values:
        _check_custom_keys(account, values)
        out["custom"] = values
    return out


def _check_custom_keys(account: Account, values: dict[str, Any]) -> None:
    known = account.custom_keys(account.dialect.order_custom_field_group)
    unknown = sorted(set(values) - known)
    if unknown:
        raise validation("unknown custom field", {f"custom@{k}": ["is not a custom field"] for k in unknown})


def update_order(account: Account, order: Order, body: dict[str, Any]) -> None:
    d = account.dialect
    _require_editable(account, order)
    customer_id = ref(body, "customer_id", account.customers, required=False) or order.customer_id
    changes = _order_fields(account, body, customer_id)
    if customer_id != order.customer_id:
        changes["customer_id"] = customer_id
    if "custom" in changes:
        changes["custom"] = {**order.custom, **changes["custom"]}
    target = text(body, "status", order.status)
    if target != order.status:
        allowed = {d.status_open: {d.status_pending},
                   d.status_cancelled: {d.status_pending, d.status_open}}
        if order.status not in allowed.get(target, set()):
            raise invalid("status", f"cannot change from {order.status!r} to {target!r}")
        if target == d.status_open:
            _check_can_open(account, replace(order, **changes))
        changes["status"] = target
    for key, value in changes.items():
        setattr(order, key, value)
    _touch(account, order)


def _check_can_open(account: Account, order: Order) -> None:
    rules = account.rules
    details: dict[str, list[str]] = {}
    if rules.open_requires_balanced and order.total != order.payments_total:
        details["total"] = [f"total {order.total} does not match payments {order.payments_total}"]
    if rules.open_requires_custom_fields:
        for key in account.required_custom_keys():
            if order.custom.get(key) in (None, ""):
                details[f"custom@{key}"] = ["is required"]
    if rules.open_requires_address and order.billing_address_id is None \
            and order.shipping_address_id is None:
        details["shipping_address_id"] = ["a shipping or billing address is required"]
    if details:
        raise validation("order cannot be opened", details)


def _require_editable(account: Account, order: Order) -> None:
    d = account.dialect
    if order.status not in (d.status_pending, d.status_open):
        raise invalid("status", f"order is {order.status} and cannot be changed")


def _touch(account: Account, order: Order) -> None:
    """Every change to an order or its lines ends here: refresh its lookups and committed stock."""
    order.updated_at = now_iso()
    account.orders.reindex(order)
    account.changed(order)


def _maybe_close(account: Account, order: Order) -> None:
    lines = [line for line in order.lines.values() if line.qty > 0]
    if (order.status == account.dialect.status_open and lines
            and any(line.qty_invoiced > 0 for line in lines)
            and all(line.remaining <= 0 for line in lines)):
        order.status = account.dialect.status_closed
        _touch(account, order)


# order lines --------------------------------------------------------------------------------------
def add_line(account: Account, order: Order, body: dict[str, Any]) -> OrderLine:
    _require_editable(account, order)
    item_id = ref(body, "item_id", account.items, required=True)
    item = account.items[item_id]  # type: ignore[index]
    original = money(body, "original_unit_price", item.price)
    line = OrderLine(id=account.next_id("order_line"), order_id=order.id, item_id=item.id,
                     qty=integer(body, "qty", minimum=0),
                     ship_from_location_id=ref(body, "ship_from_location_id", account.locations,
                                               required=False),
                     original_unit_price=original,
                     adjusted_unit_price=money(body, "adjusted_unit_price", original),
                     description=text(body, "description") or item.description,
                     custom=_line_custom(account, body))
    order.lines[line.id] = line
    _touch(account, order)
    return line


def _line_custom(account: Account, body: dict[str, Any]) -> dict[str, Any]:
    """Custom values on an order line: keys must be `sales.transaction.line_item` custom fields,
    or the one `Dialect.order_line_custom_key` assumes Heartland accepts."""
    values = custom(body)
    known = account.custom_keys("sales.transaction.line_item")
    if account.dialect.order_line_custom_key:
        known = known | {account.dialect.order_line_custom_key}
    unknown = sorted(set(values) - known)
    if unknown:
        raise validation("unknown custom field", {f"custom@{k}": ["is not a custom field"] for k in unknown})
    return values


def _reserved(account: Account, order: Order, line: OrderLine) -> int:
    """Invoiced quantity plus quantity on the order's not-yet-complete invoices."""
    drafts = sum(il.qty for inv_id in order.invoice_ids
                 if (inv := account.invoices[inv_id]).status != account.dialect.invoice_status_complete
                 for il in inv.lines if il.order_line_id == line.id)
    return line.qty_invoiced + drafts


def update_line(account: Account, order: Order, line: OrderLine, body: dict[str, Any]) -> None:
    _require_editable(account, order)
    changes: dict[str, Any] = {}
    reserved = _reserved(account, order, line)
    if "qty" in body:
        qty = integer(body, "qty", minimum=0)
        if qty < reserved:
            raise invalid("qty", f"cannot be below the invoiced quantity {reserved}")
        changes["qty"] = qty
    if "ship_from_location_id" in body:
        target = ref(body, "ship_from_location_id", account.locations, required=False)
        if target != line.ship_from_location_id and reserved > 0:
            raise invalid("ship_from_location_id", "an invoiced line cannot be moved")
        changes["ship_from_location_id"] = target
    for key in ("adjusted_unit_price", "original_unit_price"):
        if key in body:
            changes[key] = money(body, key)
    if "description" in body:
        changes["description"] = text(body, "description") or line.description
    if "custom" in body:
        changes["custom"] = {**line.custom, **_line_custom(account, body)}
    for key, value in changes.items():
        setattr(line, key, value)
    _touch(account, order)
    _maybe_close(account, order)


def delete_line(account: Account, order: Order, line: OrderLine) -> None:
    _require_editable(account, order)
    if _reserved(account, order, line) > 0:
        raise invalid("qty_invoiced", "an invoiced line cannot be deleted")
    del order.lines[line.id]
    _touch(account, order)
    _maybe_close(account, order)


# taxes, discounts, payments -----------------------------------------------------------------------
def add_tax(account: Account, order: Order, body: dict[str, Any]) -> Tax:
    _require_editable(account, order)
    tax = Tax(id=account.next_id("tax"), order_id=order.id, description=text(body, "description"),
              value=money(body, "value"))
    order.taxes.append(tax)
    _touch(account, order)
    return tax


def add_discount(account: Account, order: Order, body: dict[str, Any]) -> Discount:
    _require_editable(account, order)
    discount = Discount(id=account.next_id("discount"), order_id=order.id,
                        description=text(body, "description"), amount=money(body, "amount"))
    order.discounts.append(discount)
    _touch(account, order)
    return discount


def add_payment(account: Account, order: Order, body: dict[str, Any]) -> Payment:
    _require_editable(account, order)
    kind = text(body, "type")
    if kind != account.dialect.order_payment_type:
        raise invalid("type", f"must be {account.dialect.order_payment_type!r}")
    amount = money(body, "amount")
    if amount == 0:
        raise invalid("amount", "must not be zero")
    payment = Payment(id=account.next_id("payment"), order_id=order.id, type=kind,
                      deposit=boolean(body, "deposit", True), amount=amount,
                      payment_type_id=ref(body, "payment_type_id", account.payment_types,
                                          required=False),
                      custom=custom(body), created_at=now_iso())
    order.payments.append(payment)
    _touch(account, order)
    return payment


# invoices -----------------------------------------------------------------------------------------
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
    _check_custom_keys(account, custom_values)
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
    if line.qty - _reserved(account, order, line) < qty:
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
                and line.qty - _reserved(account, order, line) >= qty):
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
    _check_stock(account, invoice.location_id, taking)
    for il in invoice.lines:
        order.lines[il.order_line_id].qty_invoiced += il.qty
    for item_id, qty in taking.items():
        account.on_hand[(item_id, invoice.location_id)] -= qty
    invoice.status = d.invoice_status_complete
    invoice.completed_at = now_iso()
    _touch(account, order)
    _maybe_close(account, order)


def _check_stock(account: Account, location_id: int, taking: dict[int, int]) -> None:
    if not account.rules.prevent_oversell:
        return
    short = {account.items[item_id].public_id: account.on_hand.get((item_id, location_id), 0)
             for item_id, qty in taking.items()
             if qty > 0 and account.on_hand.get((item_id, location_id), 0) < qty}
    if short:
        raise validation("not enough stock", {"qty": [f"{sku}: only {have} on hand at location "
                                                      f"{location_id}" for sku, have in short.items()]})


# tickets ------------------------------------------------------------------------------------------
def create_ticket(account: Account, body: dict[str, Any]) -> Ticket:
    d = account.dialect
    if text(body, "status", "complete") != "complete":
        raise invalid("status", "only complete tickets are supported")
    station_id = ref(body, "station_id", account.stations, required=True)
    location_id = account.stations[station_id].location_id  # type: ignore[index]
    customer_id = ref(body, "customer_id", account.customers, required=False)
    parent_id = _ticket_parent(account, body)
    affect = boolean(body, d.ticket_no_restock_field, True)
    custom_values = custom(body)
    _check_custom_keys(account, custom_values)
    ident = account.next_id("ticket")
    lines = (_each(body, "item_lines", lambda b: _item_line(account, ident, b))
             + _each(body, "tax_lines", lambda b: _money_line(account, ident, b, "TaxLine"))
             + _each(body, "shipping_lines", lambda b: _money_line(account, ident, b, "ShippingLine")))
    payments = _each(body, "payments", lambda b: _ticket_payment(account, ident, b))
    ticket = Ticket(id=ident, public_id=text(body, "public_id") or str(ident), status="complete",
                    customer_id=customer_id, station_id=station_id,  # type: ignore[arg-type]
                    location_id=location_id, parent_id=parent_id, affect_inventory=affect,
                    custom=custom_values, created_at=now_iso(), lines=lines, payments=payments)
    paid = sum((p.amount for p in payments), ZERO)
    if account.rules.ticket_requires_balanced and paid != ticket.total:
        raise payment_error("payments do not match the ticket total",
                            {"payments": [f"payments {paid} != total {ticket.total}"]})
    moves: dict[int, int] = defaultdict(int)
    if affect:
        for line in lines:
            if line.item_id is not None and account.items[line.item_id].track_inventory:
                moves[line.item_id] += line.qty
    _check_stock(account, location_id, moves)
    for item_id, qty in moves.items():
        account.on_hand[(item_id, location_id)] -= qty
    account.tickets[ticket.id] = ticket
    return ticket


def _ticket_parent(account: Account, body: dict[str, Any]) -> int | None:
    key = account.dialect.ticket_parent_field
    if not key or body.get(key) is None:
        return None
    parent = integer(body, key)
    if parent not in account.invoices and parent not in account.tickets:
        raise invalid(key, f"no invoice or ticket {parent}")
    return parent


def _each(body: dict[str, Any], key: str, build: Callable[[dict[str, Any]], T]) -> list[T]:
    entries = body.get(key) or []
    if not isinstance(entries, list):
        raise invalid(key, "must be an array")
    out = []
    for i, entry in enumerate(entries):
        try:
            if not isinstance(entry, dict):
                raise invalid("", "must be an object")
            out.append(build(entry))
        except ApiError as err:
            err.details = {f"{key}[{i}].{k}".rstrip("."): v for k, v in err.details.items()}
            raise
    return out


def _item_line(account: Account, ticket_id: int, body: dict[str, Any]) -> TicketLine:
    if text(body, "type", "ItemLine") != "ItemLine":
        raise invalid("type", "must be 'ItemLine'")
    item_id = ref(body, "item_id", account.items, required=True)
    item = account.items[item_id]  # type: ignore[index]
    qty = integer(body, "qty")
    if qty == 0:
        raise invalid("qty", "must not be zero")
    price = money(body, "unit_price", item.price)
    return TicketLine(id=account.next_id("ticket_line"), ticket_id=ticket_id, type="ItemLine",
                      item_id=item.id, qty=qty, unit_price=price,
                      description=text(body, "description") or item.description, value=qty * price)


def _money_line(account: Account, ticket_id: int, body: dict[str, Any], kind: str) -> TicketLine:
    if text(body, "type", kind) != kind:
        raise invalid("type", f"must be {kind!r}")
    value = money(body, "value")
    return TicketLine(id=account.next_id("ticket_line"), ticket_id=ticket_id, type=kind,
                      item_id=None, qty=1, unit_price=value, description=text(body, "description"),
                      value=value)


def _ticket_payment(account: Account, ticket_id: int, body: dict[str, Any]) -> TicketPayment:
    kind = text(body, "type")
    if kind != account.dialect.ticket_payment_type:
        raise invalid("type", f"must be {account.dialect.ticket_payment_type!r}")
    return TicketPayment(id=account.next_id("ticket_payment"), ticket_id=ticket_id, type=kind,
                         payment_type_id=ref(body, "payment_type_id", account.payment_types,
                                             required=False),
                         amount=money(body, "amount"), deposit=boolean(body, "deposit", False))

