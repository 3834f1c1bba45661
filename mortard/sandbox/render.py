"""Records as the JSON objects the API answers with (Decimals stay Decimals until `jsonio.dumps`)."""
from __future__ import annotations

from typing import Any

from mortard.sandbox.state import (Account, Address, Customer, CustomField, Invoice, Item, Location,
                                   Order, OrderLine, PaymentType, Station, Ticket, ZERO)


def station(s: Station) -> dict[str, Any]:
    return {"id": s.id, "name": s.name, "location_id": s.location_id}


def location(loc: Location, *, stations: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {"id": loc.id, "public_id": loc.public_id, "name": loc.name}
    if stations:
        out["stations"] = [station(s) for s in loc.stations]
    return out


def item(i: Item) -> dict[str, Any]:
    return {"id": i.id, "public_id": i.public_id, "description": i.description, "price": i.price,
            "original_price": i.original_price, "active": i.active,
            "track_inventory": i.track_inventory, "custom": dict(i.custom)}


def customer(c: Customer) -> dict[str, Any]:
    return {"id": c.id, "first_name": c.first_name, "last_name": c.last_name, "email": c.email,
            "phone": c.phone, "created_at": c.created_at}


def address(a: Address) -> dict[str, Any]:
    return {"id": a.id, "customer_id": a.customer_id, **a.values}


def custom_field(f: CustomField) -> dict[str, Any]:
    return {"id": f.id, "key": f.key, "name": f.name, "group_id": f.group_id,
            "required": f.required, "unique": f.unique, "validation_type": f.validation_type}


def payment_type(p: PaymentType) -> dict[str, Any]:
    return {"id": p.id, "name": p.name}


def order_line(line: OrderLine) -> dict[str, Any]:
    return {"id": line.id, "order_id": line.order_id, "item_id": line.item_id, "qty": line.qty,
            "qty_invoiced": line.qty_invoiced, "ship_from_location_id": line.ship_from_location_id,
            "original_unit_price": line.original_unit_price,
            "adjusted_unit_price": line.adjusted_unit_price, "description": line.description,
            "value": line.value, "custom": dict(line.custom)}


def order(o: Order, *, lines: bool = False) -> dict[str, Any]:
    total, paid = o.total, o.payments_total
    out: dict[str, Any] = {
        "id": o.id, "public_id": o.public_id, "status": o.status, "customer_id": o.customer_id,
        "source_location_id": o.source_location_id, "station_id": o.station_id,
        "billing_address_id": o.billing_address_id, "shipping_address_id": o.shipping_address_id,
        "shipping_charge": o.shipping_charge, "custom": dict(o.custom), "total": total,
        "payments_total": paid, "balance": total - paid,
        "created_at": o.created_at, "updated_at": o.updated_at}
    if lines:
        out["lines"] = [order_line(line) for line in o.lines.values()]
    return out


def tax(t: Any) -> dict[str, Any]:
    return {"id": t.id, "order_id": t.order_id, "description": t.description, "value": t.value}


def discount(d: Any) -> dict[str, Any]:
    return {"id": d.id, "order_id": d.order_id, "description": d.description, "amount": d.amount}


def payment(p: Any) -> dict[str, Any]:
    return {"id": p.id, "order_id": p.order_id, "type": p.type, "deposit": p.deposit,
            "amount": p.amount, "payment_type_id": p.payment_type_id, "custom": dict(p.custom),
            "created_at": p.created_at}


def invoice_line(line: Any) -> dict[str, Any]:
    return {"id": line.id, "invoice_id": line.invoice_id, "type": "ItemLine",
            "item_id": line.item_id, "qty": line.qty, "order_line_id": line.order_line_id,
            "unit_price": line.unit_price, "value": line.qty * line.unit_price}


def invoice(inv: Invoice, account: Account, *, lines: bool = False) -> dict[str, Any]:
    field = account.dialect.invoice_location_field
    out: dict[str, Any] = {
        "id": inv.id, "order_id": inv.order_id, "customer_id": inv.customer_id,
        "status": inv.status, field: inv.location_id, "station_id": inv.station_id,
        "total": sum((ln.qty * ln.unit_price for ln in inv.lines), ZERO),
        "custom": dict(inv.custom), "created_at": inv.created_at,
        "completed_at": inv.completed_at}
    if lines:
        out["lines"] = [invoice_line(line) for line in inv.lines]
    return out


def ticket_line(line: Any) -> dict[str, Any]:
    out = {"id": line.id, "ticket_id": line.ticket_id, "type": line.type,
           "description": line.description, "value": line.value}
    if line.type == "ItemLine":
        out.update(item_id=line.item_id, qty=line.qty, unit_price=line.unit_price)
    return out


def ticket_payment(p: Any) -> dict[str, Any]:
    return {"id": p.id, "ticket_id": p.ticket_id, "type": p.type,
            "payment_type_id": p.payment_type_id, "amount": p.amount, "deposit": p.deposit}


def ticket(t: Ticket, account: Account, *, lines: bool = False) -> dict[str, Any]:
    dialect = account.dialect
    paid = sum((p.amount for p in t.payments), ZERO)
    is_return = any(ln.type == "ItemLine" and ln.qty < 0 for ln in t.lines)
    out: dict[str, Any] = {
        "id": t.id, "public_id": t.public_id, "type": "Return" if is_return else "Ticket",
        "status": t.status, "customer_id": t.customer_id, "station_id": t.station_id,
        "source_location_id": t.location_id, "total": t.total, "balance": t.total - paid,
        dialect.ticket_no_restock_field: t.affect_inventory, "custom": dict(t.custom),
        "created_at": t.created_at, "completed_at": t.created_at, "completed?": True,
        "voided?": False}
    if dialect.ticket_parent_field:
        out[dialect.ticket_parent_field] = t.parent_id
    if lines:
        out["lines"] = [ticket_line(line) for line in t.lines]
    return out

