"""Compare two Heartland sandbox states document by document, and find duplicates in one.

Input: one account's part of a `GET /_sandbox/state` dump (as `Stack.state()` returns it, money
parsed as Decimal). Ids differ between runs, so nothing here compares an id: every document is
reduced to a canonical form keyed by what mortard names it by (the order's `public_id`, a ticket's
`public_id`), with ids replaced by what they point at (an item's SKU, a location's public_id, a
customer's e-mail, a ticket's parent invoice by its order and location).

- `canonical(state)`: `Canonical` with, per order public_id, the list of Heartland orders carrying
  it (more than one = a duplicate order), each as status, customer, shipping, total/payments, the
  lines as a sorted multiset of (sku, qty, qty invoiced, ship-from, original and adjusted unit price,
  description), the tax total, the discounts, the payments multiset, the invoices grouped by
  location (status, lines, total) and the tickets named after the order (type, status, location,
  parent, lines, payments, total); plus the final inventory per (sku, location) and the customers
  per e-mail.
- `diff(reference, actual)`: per order public_id, sentences naming what differs; plus inventory
  and customer differences. Empty = the same Heartland.
- `duplicates(actual, reference=None)`: duplicate orders, lines, invoices, tickets, payments and
  customers. With a reference, "duplicate" means more than the reference has of that thing;
  without one, more than one (the stricter reading).

Order lines with qty 0 and nothing invoiced are left out of the line multiset (with
`line_delete_supported = false` a removed line stays behind at qty 0; it carries nothing).
`qty_invoiced` is taken from the line when the dump shows it, else summed from the completed
invoices' lines that name the order line, so the comparison works on a documented-only sandbox
whose lines don't show it.

Kept out of `mortard/` on purpose: a test and benchmark tool, not production code. bench/faults.py
imports it from here.
"""
from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

ZERO = Decimal("0.00")
_REFUND_MARK = re.compile(r"\bRefund (\d+) of\b")
_SALE_MARK = re.compile(r"\bSale (\d+) of\b")
_TICKET_NAME = re.compile(r"^(.*)-([RS])(\d+)$")


def _d(v: Any) -> Decimal:
    return ZERO if v is None else Decimal(str(v)).quantize(Decimal("0.01"))


@dataclass
class Canonical:
    orders: dict[str, list[dict[str, Any]]]            # public_id -> Heartland orders with it
    tickets: dict[str, list[dict[str, Any]]]           # ticket public_id -> tickets with it
    inventory: dict[tuple[str, str], tuple[int, int, int]]   # (sku, location) -> on hand, committed, available
    customers: Counter                                   # e-mail -> customers with it
    addresses: Counter = field(default_factory=Counter)  # e-mail -> addresses of its customers
    orphan_invoices: list[dict[str, Any]] = field(default_factory=list)   # invoices of no known order


class _Names:
    """id -> what it means, within one dump."""

    def __init__(self, state: dict[str, Any]) -> None:
        self.items: dict[int, str] = {}
        self.locations: dict[int, str] = {}
        for r in state.get("inventory", ()):
            self.items[int(r["item_id"])] = str(r["item"])
            self.locations[int(r["location_id"])] = str(r["location"])
        self.customers = {int(c["id"]): (c.get("email") or c.get("phone") or f"customer:{c.get('first_name')}")
                          for c in state.get("customers", ())}
        self.payment_types = {int(p["id"]): str(p["name"]) for p in state.get("payment_types", ())}
        self.orders = {int(o["id"]): str(o["public_id"]) for o in state.get("orders", ())}

    def item(self, item_id: Any) -> str:
        return self.items.get(int(item_id), f"item#{item_id}") if item_id is not None else "-"

    def location(self, location_id: Any) -> str | None:
        if location_id is None:
            return None
        return self.locations.get(int(location_id), f"location#{location_id}")

    def payment_type(self, pid: Any) -> str:
        return self.payment_types.get(int(pid), f"type#{pid}") if pid is not None else "-"


def _invoice_location(inv: dict[str, Any]) -> Any:
    for key in ("source_location_id", "location_id"):
        if key in inv:
            return inv[key]
    return None


def canonical(state: dict[str, Any]) -> Canonical:
    names = _Names(state)
    invoices_by_order: dict[int, list[dict[str, Any]]] = {}
    invoice_where: dict[int, str] = {}             # invoice id -> "<order public_id>@<location>"
    invoiced_qty: Counter = Counter()              # order line id -> qty on complete invoices
    for inv in state.get("invoices", ()):
        invoices_by_order.setdefault(int(inv["order_id"]), []).append(inv)
        loc = names.location(_invoice_location(inv))
        invoice_where[int(inv["id"])] = f"{names.orders.get(int(inv['order_id']), '?')}@{loc}"
        if inv.get("status") == "complete":
            for ln in inv.get("lines") or ():
                if ln.get("order_line_id") is not None:
                    invoiced_qty[int(ln["order_line_id"])] += int(ln["qty"])

    orders: dict[str, list[dict[str, Any]]] = {}
    for o in state.get("orders", ()):
        lines = []
        for ln in o.get("lines") or ():
            done = int(ln["qty_invoiced"]) if "qty_invoiced" in ln else invoiced_qty.get(int(ln["id"]), 0)
            if int(ln["qty"]) == 0 and done == 0:
                continue
            lines.append((names.item(ln["item_id"]), int(ln["qty"]), done, names.location(ln.get("ship_from_location_id")),
                          str(_d(ln.get("original_unit_price"))), str(_d(ln.get("adjusted_unit_price"))),
                          str(ln.get("description") or "")))
        by_location: dict[str, list[tuple[Any, ...]]] = {}
        for inv in invoices_by_order.get(int(o["id"]), ()):
            inv_lines = tuple(sorted((names.item(il.get("item_id")), int(il["qty"]), str(_d(il.get("unit_price"))))
                                     for il in inv.get("lines") or ()))
            by_location.setdefault(str(names.location(_invoice_location(inv))), []).append(
                (str(inv.get("status")), inv_lines, str(_d(inv.get("total")))))
        orders.setdefault(str(o["public_id"]), []).append({
            "status": o.get("status"),
            "customer": names.customers.get(int(o["customer_id"])) if o.get("customer_id") is not None else None,
            "shipping_charge": str(_d(o.get("shipping_charge"))),
            "total": str(_d(o.get("total"))),
            "payments_total": str(_d(o.get("payments_total"))),
            "lines": sorted(lines),
            "tax_total": str(sum((_d(t.get("value")) for t in o.get("taxes") or ()), ZERO)),
            "discounts": sorted(str(_d(d.get("amount"))) for d in o.get("discounts") or ()),
            "payments": sorted((str(_d(p.get("amount"))), names.payment_type(p.get("payment_type_id")))
                               for p in o.get("payments") or ()),
            "invoices": {loc: sorted(v) for loc, v in sorted(by_location.items())},
        })
    for v in orders.values():
        v.sort(key=repr)

    tickets: dict[str, list[dict[str, Any]]] = {}
    for t in state.get("tickets", ()):
        parent = t.get("parent_transaction_id")
        t_lines = []
        for ln in t.get("lines") or ():
            if ln.get("type") == "ItemLine":
                t_lines.append(("ItemLine", names.item(ln.get("item_id")), int(ln.get("qty") or 0),
                                str(_d(ln.get("unit_price"))), str(ln.get("description") or "")))
            else:
                t_lines.append((str(ln.get("type")), "-", 0, str(_d(ln.get("value"))), str(ln.get("description") or "")))
        tickets.setdefault(str(t["public_id"]), []).append({
            "type": t.get("type"), "status": t.get("status"),
            "location": names.location(t.get("source_location_id")),
            "parent": invoice_where.get(int(parent), f"#{parent}") if parent is not None else None,
            "restock": t.get("affect_inventory", True),
            "lines": sorted(t_lines),
            "payments": sorted((str(_d(p.get("amount"))), names.payment_type(p.get("payment_type_id")))
                               for p in t.get("payments") or ()),
            "total": str(_d(t.get("total"))),
        })
    for v in tickets.values():
        v.sort(key=repr)

    known = set(names.orders)
    orphans = [inv for inv in state.get("invoices", ()) if int(inv["order_id"]) not in known]
    inventory = {(str(r["item"]), str(r["location"])): (int(r["qty_on_hand"]), int(r["qty_committed"]),
                                                         int(r["qty_available"]))
                 for r in state.get("inventory", ())}
    customers = Counter(names.customers[int(c["id"])] for c in state.get("customers", ()))
    addresses: Counter = Counter()
    for c in state.get("customers", ()):
        addresses[names.customers[int(c["id"])]] += len(c.get("addresses") or ())
    return Canonical(orders, tickets, inventory, customers, addresses=addresses, orphan_invoices=orphans)


def ticket_owner(ticket_public_id: str) -> str:
    """The order public_id a ticket is named after (`#1001-R2` -> `#1001`)."""
    m = _TICKET_NAME.match(ticket_public_id)
    return m.group(1) if m else ticket_public_id


def _as_canonical(x: dict[str, Any] | Canonical) -> Canonical:
    return x if isinstance(x, Canonical) else canonical(x)


def _multiset_diff(ref: list[Any], act: list[Any]) -> tuple[list[Any], list[Any]]:
    r, a = Counter(map(_hashable, ref)), Counter(map(_hashable, act))
    return sorted((r - a).elements(), key=repr), sorted((a - r).elements(), key=repr)


def _hashable(x: Any) -> Any:
    if isinstance(x, dict):
        return tuple(sorted((k, _hashable(v)) for k, v in x.items()))
    if isinstance(x, list):
        return tuple(_hashable(v) for v in x)
    return x


def _order_diff(ref: dict[str, Any], act: dict[str, Any]) -> list[str]:
    out = []
    for key in ("status", "customer", "shipping_charge", "total", "payments_total", "tax_total", "discounts"):
        if ref.get(key) != act.get(key):
            out.append(f"{key}: expected {ref.get(key)!r}, found {act.get(key)!r}")
    for key in ("lines", "payments"):
        missing, extra = _multiset_diff(ref[key], act[key])
        if missing or extra:
            out.append(f"{key}: missing {missing}, extra {extra}")
    for loc in sorted(set(ref["invoices"]) | set(act["invoices"])):
        r, a = ref["invoices"].get(loc, []), act["invoices"].get(loc, [])
        if r != a:
            out.append(f"invoices at {loc}: expected {r}, found {a}")
    return out


def diff(reference: dict[str, Any] | Canonical, actual: dict[str, Any] | Canonical) -> dict[str, list[str]]:
    """What differs, per order public_id (tickets under their order); `"(inventory)"` and
    `"(customers)"` collect the account-wide differences. Empty when the two are the same."""
    ref, act = _as_canonical(reference), _as_canonical(actual)
    out: dict[str, list[str]] = {}
    for pid in sorted(set(ref.orders) | set(act.orders)):
        r, a = ref.orders.get(pid, []), act.orders.get(pid, [])
        problems: list[str] = []
        if len(r) != len(a):
            problems.append(f"{len(a)} Heartland orders with this public_id, expected {len(r)}")
        for x, y in zip(r, a):
            problems += _order_diff(x, y)
        if problems:
            out.setdefault(pid, []).extend(problems)
    for tid in sorted(set(ref.tickets) | set(act.tickets)):
        r, a = ref.tickets.get(tid, []), act.tickets.get(tid, [])
        problems = []
        if len(r) != len(a):
            problems.append(f"ticket {tid}: {len(a)} found, expected {len(r)}")
        for x, y in zip(r, a):
            for key in ("type", "status", "location", "parent", "restock", "total"):
                if x.get(key) != y.get(key):
                    problems.append(f"ticket {tid} {key}: expected {x.get(key)!r}, found {y.get(key)!r}")
            for key in ("lines", "payments"):
                missing, extra = _multiset_diff(x[key], y[key])
                if missing or extra:
                    problems.append(f"ticket {tid} {key}: missing {missing}, extra {extra}")
        if problems:
            out.setdefault(ticket_owner(tid), []).extend(problems)
    inv = []
    for key in sorted(set(ref.inventory) | set(act.inventory)):
        r, a = ref.inventory.get(key), act.inventory.get(key)
        if r != a:
            inv.append(f"{key[0]}@{key[1]} (on hand, committed, available): expected {r}, found {a}")
    if inv:
        out["(inventory)"] = inv
    cust = [f"{email}: {act.customers.get(email, 0)} customers, expected {ref.customers.get(email, 0)}"
            for email in sorted(set(ref.customers) | set(act.customers))
            if ref.customers.get(email, 0) != act.customers.get(email, 0)]
    cust += [f"{email}: {act.addresses.get(email, 0)} customer addresses, expected {ref.addresses.get(email, 0)}"
             for email in sorted(set(ref.addresses) | set(act.addresses))
             if ref.addresses.get(email, 0) != act.addresses.get(email, 0)]
    if cust:
        out["(customers)"] = cust
    if len(act.orphan_invoices) != len(ref.orphan_invoices):
        out["(invoices)"] = [f"{len(act.orphan_invoices)} invoices of no order, expected {len(ref.orphan_invoices)}"]
    return out


def orders_with_differences(d: dict[str, list[str]]) -> list[str]:
    return sorted(k for k in d if not k.startswith("("))


@dataclass
class Duplicates:
    orders: dict[str, int] = field(default_factory=dict)      # public_id -> extra Heartland orders
    lines: dict[str, int] = field(default_factory=dict)       # public_id -> extra order lines
    invoices: dict[str, int] = field(default_factory=dict)    # public_id -> extra invoices (per location)
    tickets: dict[str, int] = field(default_factory=dict)     # public_id -> extra tickets (per name or refund)
    payments: dict[str, int] = field(default_factory=dict)    # public_id -> extra payments
    overpaid: dict[str, str] = field(default_factory=dict)    # public_id -> how payments exceed what they may
    customers: dict[str, int] = field(default_factory=dict)   # e-mail -> extra customers
    addresses: dict[str, int] = field(default_factory=dict)   # e-mail -> extra addresses (vs the reference)

    def total(self) -> dict[str, int]:
        return {"orders": sum(self.orders.values()), "lines": sum(self.lines.values()),
                "invoices": sum(self.invoices.values()), "tickets": sum(self.tickets.values()),
                "payments": sum(self.payments.values()), "overpaid": len(self.overpaid),
                "customers": sum(self.customers.values()), "addresses": sum(self.addresses.values())}

    def any(self) -> bool:
        return any(self.total().values())

    def describe(self) -> str:
        parts = []
        for name in ("orders", "lines", "invoices", "tickets", "payments", "overpaid", "customers", "addresses"):
            found = getattr(self, name)
            if found:
                parts.append(f"{name}: {dict(sorted(found.items())[:12])}" + (" …" if len(found) > 12 else ""))
        return "; ".join(parts) or "none"


def _line_keys(state: dict[str, Any]) -> dict[str, Counter]:
    """public_id -> Counter of what identifies a line: the Shopify line id when lines carry it in
    `custom`, else (sku, description); both with the ship-from location."""
    names = _Names(state)
    out: dict[str, Counter] = {}
    for o in state.get("orders", ()):
        c = out.setdefault(str(o["public_id"]), Counter())
        for ln in o.get("lines") or ():
            if int(ln["qty"]) == 0 and not ln.get("qty_invoiced"):
                continue
            custom = ln.get("custom") or {}
            shopify_line = next((v for k, v in custom.items() if "line" in k), None)
            ident = ("shopify_line", str(shopify_line)) if shopify_line is not None else \
                ("item", names.item(ln["item_id"]), str(ln.get("description") or ""))
            c[(ident, names.location(ln.get("ship_from_location_id")))] += 1
    return out


def _counts(state: dict[str, Any]) -> dict[str, dict[str, Counter]]:
    can = canonical(state)
    res: dict[str, dict[str, Counter]] = {"orders": {}, "invoices": {}, "tickets": {}, "payments": {}}
    for pid, os_ in can.orders.items():
        res["orders"][pid] = Counter({"order": len(os_)})
        inv: Counter = Counter()
        pay: Counter = Counter()
        for o in os_:
            for loc, invs in o["invoices"].items():
                inv[loc] += len(invs)
            for p in o["payments"]:
                pay[p] += 1
        res["invoices"][pid] = inv
        res["payments"][pid] = pay
    for tid, ts in can.tickets.items():
        c = res["tickets"].setdefault(ticket_owner(tid), Counter())
        c[("name", tid)] += len(ts)
        for t in ts:
            marks = {m.group(0) for ln in t["lines"] for m in [_REFUND_MARK.search(ln[4])] if m}
            for mark in marks:
                c[("refund", mark)] += 1
    return res


def _excess(actual: Counter, reference: Counter | None) -> int:
    if reference is None:
        return sum(n - 1 for n in actual.values() if n > 1)
    return sum(max(0, n - reference.get(k, 0)) for k, n in actual.items())


def duplicates(actual: dict[str, Any], reference: dict[str, Any] | None = None) -> Duplicates:
    """Duplicates in `actual`: against `reference` when given (more than it has), else more than one."""
    out = Duplicates()
    a_lines, r_lines = _line_keys(actual), (_line_keys(reference) if reference is not None else None)
    for pid, c in a_lines.items():
        n = _excess(c, r_lines.get(pid, Counter()) if r_lines is not None else None)
        if n:
            out.lines[pid] = n
    a, r = _counts(actual), (_counts(reference) if reference is not None else None)
    for kind in ("orders", "invoices", "tickets", "payments"):
        for pid, c in a[kind].items():
            ref = r[kind].get(pid, Counter()) if r is not None else None
            if kind == "payments" and ref is None:
                continue   # two equal payments can be right (two captures of one amount)
            n = _excess(c, ref)
            if n:
                getattr(out, kind)[pid] = n
    # Money: an order holds at most its total; a ticket is paid exactly its total.
    ref_balance = {str(o["public_id"]): (_d(o.get("payments_total")), _d(o.get("total")))
                   for o in (reference or {}).get("orders", ())}
    for o in actual.get("orders", ()):
        paid, total = _d(o.get("payments_total")), _d(o.get("total"))
        if reference is not None and ref_balance.get(str(o["public_id"])) == (paid, total):
            continue   # the reference holds the same money: not this run's doing (see `duplicates(reference)`)
        positive = sum((_d(p.get("amount")) for p in o.get("payments") or () if _d(p.get("amount")) > 0), ZERO)
        if paid > total:
            out.overpaid[str(o["public_id"])] = f"payments {paid} > total {total}"
        elif reference is None and positive > total + sum(
                (-_d(p.get("amount")) for p in o.get("payments") or () if _d(p.get("amount")) < 0), ZERO):
            out.overpaid[str(o["public_id"])] = f"deposits {positive} exceed total {total} plus refunds"
    for t in actual.get("tickets", ()):
        paid = sum((_d(p.get("amount")) for p in t.get("payments") or ()), ZERO)
        if paid != _d(t.get("total")):
            out.overpaid[str(t["public_id"])] = f"ticket payments {paid} != total {_d(t.get('total'))}"
    a_can = canonical(actual)
    r_can = canonical(reference) if reference is not None else None
    for email, n in a_can.customers.items():
        extra = n - (r_can.customers.get(email, 0) if r_can is not None else 1)
        if extra > 0:
            out.customers[email] = extra
    if r_can is not None:
        for email, n in a_can.addresses.items():
            extra = n - r_can.addresses.get(email, 0)
            if extra > 0:
                out.addresses[email] = extra
    return out
