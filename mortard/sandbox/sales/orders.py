"""Sales orders and what is on them (lines, taxes, discounts, payments): the order's state machine and
stock rules of `docs/heartland-contract.md`.

Every function validates fully before it changes anything, so a refused request leaves no trace
(apart from, at most, a skipped id).
"""
from __future__ import annotations

from dataclasses import replace
from typing import Any

from mortard.sandbox.errors import invalid, validation
from mortard.sandbox.state import ZERO, Account, Discount, Order, OrderLine, Payment, Tax, now_iso
from mortard.sandbox.values import boolean, custom, integer, money, ref, text


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
        check_custom_keys(account, values)
        out["custom"] = values
    return out


def check_custom_keys(account: Account, values: dict[str, Any]) -> None:
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
    touch(account, order)


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


def touch(account: Account, order: Order) -> None:
    """Every change to an order or its lines ends here: refresh its lookups and committed stock."""
    order.updated_at = now_iso()
    account.orders.reindex(order)
    account.changed(order)


def maybe_close(account: Account, order: Order) -> None:
    lines = [line for line in order.lines.values() if line.qty > 0]
    if (order.status == account.dialect.status_open and lines
            and any(line.qty_invoiced > 0 for line in lines)
            and all(line.remaining <= 0 for line in lines)):
        order.status = account.dialect.status_closed
        touch(account, order)


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
    touch(account, order)
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


def units_on_invoices(account: Account, order: Order, line: OrderLine) -> int:
    """Invoiced quantity plus quantity on the order's not-yet-complete invoices."""
    drafts = sum(il.qty for inv_id in order.invoice_ids
                 if (inv := account.invoices[inv_id]).status != account.dialect.invoice_status_complete
                 for il in inv.lines if il.order_line_id == line.id)
    return line.qty_invoiced + drafts


def update_line(account: Account, order: Order, line: OrderLine, body: dict[str, Any]) -> None:
    _require_editable(account, order)
    changes: dict[str, Any] = {}
    reserved = units_on_invoices(account, order, line)
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
    touch(account, order)
    maybe_close(account, order)


def delete_line(account: Account, order: Order, line: OrderLine) -> None:
    _require_editable(account, order)
    if units_on_invoices(account, order, line) > 0:
        raise invalid("qty_invoiced", "an invoiced line cannot be deleted")
    del order.lines[line.id]
    touch(account, order)
    maybe_close(account, order)


def add_tax(account: Account, order: Order, body: dict[str, Any]) -> Tax:
    _require_editable(account, order)
    tax = Tax(id=account.next_id("tax"), order_id=order.id, description=text(body, "description"),
              value=money(body, "value"))
    order.taxes.append(tax)
    touch(account, order)
    return tax


def add_discount(account: Account, order: Order, body: dict[str, Any]) -> Discount:
    _require_editable(account, order)
    discount = Discount(id=account.next_id("discount"), order_id=order.id,
                        description=text(body, "description"), amount=money(body, "amount"))
    order.discounts.append(discount)
    touch(account, order)
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
    touch(account, order)
    return payment

