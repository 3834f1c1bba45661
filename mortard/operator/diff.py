"""Heartland mutations as one readable line each: `+` creates or adds, `~` changes, `-` removes.

Works on an action's `describe()` form (what the journal stores as `request`), so the dry run and an
order's journal read the same: "+ add line SKU-0002 × 2 at S02 @ 111.00", "~ set status open",
"+ payment -12.00 (Shopify)".
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from mortard.operator.render import money


@dataclass(frozen=True, slots=True)
class Names:
    """Ids to the names staff know, where known; anything unknown is shown by id."""

    locations: Mapping[int, str] = field(default_factory=dict)       # location id -> public_id
    items: Mapping[int, str] = field(default_factory=dict)           # item id -> SKU
    payment_types: Mapping[int, str] = field(default_factory=dict)   # payment type id -> name
    lines: Mapping[int, str] = field(default_factory=dict)           # Shopify line id -> SKU (or title)

    def location(self, location_id: Any) -> str:
        if location_id is None:
            return "no location"
        return self.locations.get(_int(location_id)) or f"location {location_id}"

    def item(self, item_id: Any, shopify_line_id: Any = None) -> str:
        if shopify_line_id is not None and _int(shopify_line_id) in self.lines:
            return self.lines[_int(shopify_line_id)]
        return self.items.get(_int(item_id)) or f"item {item_id}"

    def payment_type(self, type_id: Any) -> str:
        return self.payment_types.get(_int(type_id)) or f"payment type {type_id}"


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def action_text(request: Mapping[str, Any], names: Names = Names()) -> str:
    """One line for one mutation, given its `describe()` dict (`{"action": kind, ...fields}`)."""
    a = request
    kind = str(a.get("action") or "?")
    f = a.get("fields") if isinstance(a.get("fields"), Mapping) else {}
    if kind == "create_customer":
        who = " ".join(str(f.get(k) or "") for k in ("first_name", "last_name")).strip() or "customer"
        extra = "".join(f" <{f['email']}>" if k == "email" else f" {f['phone']}"
                        for k in ("email", "phone") if f.get(k))
        return f"+ create customer {who}{extra}"
    if kind == "add_address":
        role = {"both": "billing+shipping"}.get(str(a.get("role")), str(a.get("role")))
        where = ", ".join(p for p in (str(f.get("line_1") or ""), " ".join(
            str(f.get(k) or "") for k in ("city", "state", "postal_code")).strip()) if p)
        return f"+ {role} address for customer {a.get('customer_id')}: {where or '(empty)'}"
    if kind == "create_order":
        text = f"+ create order {a.get('public_id')} at {names.location(f.get('source_location_id'))}"
        text += f" for customer {f.get('customer_id')}"
        if f.get("shipping_charge") not in (None, "0", "0.00"):
            text += f", shipping {money(f.get('shipping_charge'))}"
        return text
    if kind == "add_line":
        text = (f"+ add line {names.item(a.get('item_id'), a.get('shopify_line_id'))} × {a.get('qty')} "
                f"at {names.location(a.get('location_id'))} @ {money(a.get('unit_price'))}")
        if a.get("original_price") is not None and money(a.get("original_price")) != money(a.get("unit_price")):
            text += f" (list {money(a.get('original_price'))})"
        return text
    if kind == "update_line":
        changes = []
        if a.get("qty") is not None:
            changes.append(f"qty {a.get('qty')}")
        if a.get("location_id") is not None:
            changes.append(f"ship from {names.location(a.get('location_id'))}")
        return f"~ line {a.get('line_id')}: {', '.join(changes) or 'no change'}"
    if kind == "delete_line":
        return f"- delete line {a.get('line_id')}"
    if kind == "add_tax":
        return f"+ tax {money(a.get('value'))} ({a.get('description') or 'tax'})"
    if kind == "set_shipping":
        return f"~ set shipping {money(a.get('value'))}"
    if kind == "add_payment":
        return f"+ payment {money(a.get('amount'))} ({names.payment_type(a.get('payment_type_id'))})"
    if kind == "set_status":
        return f"~ set status {a.get('status')}"
    if kind == "create_invoice":
        return f"+ invoice at {names.location(a.get('location_id'))}"
    if kind == "add_invoice_line":
        return (f"+ invoice {a.get('invoice_id')} line: {names.item(a.get('item_id'))} × {a.get('qty')} "
                f"(order line {a.get('order_line_id')})")
    if kind == "complete_invoice":
        return f"~ complete invoice {a.get('invoice_id')}"
    if kind == "create_ticket":
        lines = a.get("lines") or []
        goods = ", ".join(f"{names.item(ln.get('item_id'))} × {ln.get('qty')} @ {money(ln.get('unit_price'))}"
                          for ln in lines if isinstance(ln, Mapping))
        return (f"+ ticket {a.get('public_id')}: {goods or 'no lines'}; tax {money(a.get('tax'))}, "
                f"payment {money(a.get('payment'))} ({names.payment_type(a.get('payment_type_id'))})")
    rest = {k: v for k, v in a.items() if k != "action"}
    return f"* {kind} {rest}"
