"""Heartland mutations as one readable line each: `+` creates or adds, `~` changes, `-` removes.

Works on an action's `describe()` form (what the journal stores as `request`), so the dry run and an
order's journal read the same: "+ add line SKU-0002 × 2 at S02 @ 111.00", "~ set status open",
"+ payment -12.00 (Shopify)".
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
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
    kind = str(request.get("action") or "?")
    text = TEXTS.get(kind)
    if text is None:
        rest = {k: v for k, v in request.items() if k != "action"}
        return f"* {kind} {rest}"
    f = request.get("fields") if isinstance(request.get("fields"), Mapping) else {}
    return text(request, f, names)


# One line per mutation kind (checked complete against sync.actions.MUTATIONS by the tests).
def _customer(a: Mapping[str, Any], f: Mapping[str, Any], names: Names) -> str:
    who = " ".join(str(f.get(k) or "") for k in ("first_name", "last_name")).strip() or "customer"
    extra = "".join(f" <{f['email']}>" if k == "email" else f" {f['phone']}" for k in ("email", "phone") if f.get(k))
    return f"+ create customer {who}{extra}"


def _address(a: Mapping[str, Any], f: Mapping[str, Any], names: Names) -> str:
    role = {"both": "billing+shipping"}.get(str(a.get("role")), str(a.get("role")))
    where = ", ".join(p for p in (str(f.get("line_1") or ""), " ".join(
        str(f.get(k) or "") for k in ("city", "state", "postal_code")).strip()) if p)
    return f"+ {role} address for customer {a.get('customer_id')}: {where or '(empty)'}"


def _order(a: Mapping[str, Any], f: Mapping[str, Any], names: Names) -> str:
    text = f"+ create order {a.get('public_id')} at {names.location(f.get('source_location_id'))}"
    text += f" for customer {f.get('customer_id')}"
    if f.get("shipping_charge") not in (None, "0", "0.00"):
        text += f", shipping {money(f.get('shipping_charge'))}"
    return text


def _line(a: Mapping[str, Any], f: Mapping[str, Any], names: Names) -> str:
    text = (f"+ add line {names.item(a.get('item_id'), a.get('shopify_line_id'))} × {a.get('qty')} "
            f"at {names.location(a.get('location_id'))} @ {money(a.get('unit_price'))}")
    if a.get("original_price") is not None and money(a.get("original_price")) != money(a.get("unit_price")):
        text += f" (list {money(a.get('original_price'))})"
    return text


def _update_line(a: Mapping[str, Any], f: Mapping[str, Any], names: Names) -> str:
    changes = []
    if a.get("qty") is not None:
        changes.append(f"qty {a.get('qty')}")
    if a.get("location_id") is not None:
        changes.append(f"ship from {names.location(a.get('location_id'))}")
    return f"~ line {a.get('line_id')}: {', '.join(changes) or 'no change'}"


def _ticket(a: Mapping[str, Any], f: Mapping[str, Any], names: Names) -> str:
    lines = a.get("lines") or []
    goods = ", ".join(f"{names.item(ln.get('item_id'))} × {ln.get('qty')} @ {money(ln.get('unit_price'))}"
                      for ln in lines if isinstance(ln, Mapping))
    return (f"+ ticket {a.get('public_id')}: {goods or 'no lines'}; tax {money(a.get('tax'))}, "
            f"payment {money(a.get('payment'))} ({names.payment_type(a.get('payment_type_id'))})")


Text = Callable[[Mapping[str, Any], Mapping[str, Any], Names], str]
TEXTS: dict[str, Text] = {
    "create_customer": _customer,
    "add_address": _address,
    "create_order": _order,
    "add_line": _line,
    "update_line": _update_line,
    "delete_line": lambda a, f, n: f"- delete line {a.get('line_id')}",
    "add_tax": lambda a, f, n: f"+ tax {money(a.get('value'))} ({a.get('description') or 'tax'})",
    "set_shipping": lambda a, f, n: f"~ set shipping {money(a.get('value'))}",
    "add_payment": lambda a, f, n: f"+ payment {money(a.get('amount'))} ({n.payment_type(a.get('payment_type_id'))})",
    "set_status": lambda a, f, n: f"~ set status {a.get('status')}",
    "create_invoice": lambda a, f, n: f"+ invoice at {n.location(a.get('location_id'))}",
    "add_invoice_line": lambda a, f, n: (f"+ invoice {a.get('invoice_id')} line: {n.item(a.get('item_id'))} × "
                                         f"{a.get('qty')} (order line {a.get('order_line_id')})"),
    "complete_invoice": lambda a, f, n: f"~ complete invoice {a.get('invoice_id')}",
    "create_ticket": _ticket,
}
