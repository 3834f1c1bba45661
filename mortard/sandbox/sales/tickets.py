"""Tickets: returns (and sales) recorded against a customer at a station, with their item and money
lines and payments, balanced (`docs/heartland-contract.md`).

Every function validates fully before it changes anything, so a refused request leaves no trace
(apart from, at most, a skipped id).
"""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from typing import Any, TypeVar

from mortard.sandbox.errors import ApiError, invalid, payment_error
from mortard.sandbox.sales.invoices import check_stock
from mortard.sandbox.sales.orders import check_custom_keys
from mortard.sandbox.state import ZERO, Account, Ticket, TicketLine, TicketPayment, now_iso
from mortard.sandbox.values import boolean, custom, integer, money, ref, text


T = TypeVar("T")


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
    check_custom_keys(account, custom_values)
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
    check_stock(account, location_id, moves)
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

