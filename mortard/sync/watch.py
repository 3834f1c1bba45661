"""The watch over orders that wait, per Heartland account: what to look at again, decided purely.

An order waits when Heartland can't take it further yet: a line no store has stock for
(`waiting_stock`), or an order left `pending` for staff. Shopify sends nothing when stock arrives
or staff fix an order in Heartland, so the watch looks, on an interval, with few calls:

- **Stock.** One stock read for the items of every waiting order of the account (the gateway asks
  `GET /inventory/values` with `item_id $in [...]`, 100 items a request). `choose_replans` then
  hands the units that are free (read less what other orders hold, `stock_counters.held`) to the
  waiting orders, oldest first, line by line as the planner routes them (an undistributed line
  moves whole, to one location: `sync/plan.py`), never handing a unit twice. The chosen orders are
  made due; the machine re-plans each as usual, and its holds (`sync/reservations.py`) keep any
  two runs, of any daemon, from routing the same unit.
- **Orders staff may have changed** (`pending` ones, and ones mortard opened or closed): one read
  of their headers (`GET /sales/orders` with `id $in [...]`), compared with the mirror
  (`header_changes`). What changed is looked at in full (`read_order`) within the call budget.
- **Budget.** The watch takes a small share of the account's rate (`call_budget`) and stops a pass
  early while the account is held (a 429 pause, an open breaker); what it didn't reach it reaches next interval.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from mortard.sync.model import HLine, Mirror

Unit = tuple[int, int]   # (item id, location id)
Key = tuple[str, int]    # (shop, order id)


@dataclass(frozen=True, slots=True)
class WaitingLine:
    """Units that move together when routed: one undistributed Heartland line, or (splitting off)
    the lines of one Shopify line."""

    item_id: int
    qty: int


@dataclass(frozen=True, slots=True)
class WaitingOrder:
    key: Key
    since: datetime                     # first event: the order's age
    lines: tuple[WaitingLine, ...]
    # Ship-from location ids the order may use, in preference order; () = any location read.
    locations: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class Choice:
    replan: tuple[Key, ...]                         # oldest first
    routed: dict[Key, tuple[tuple[int, int, int], ...]] = field(default_factory=dict)  # key -> (item, loc, qty)
    still_waiting: tuple[Key, ...] = ()


def waiting_lines(mirror: Mirror, allow_split: bool = True) -> tuple[WaitingLine, ...]:
    """The lines of a Heartland order that wait for stock, grouped as the planner moves them."""
    undistributed = [h for h in mirror.lines if h.location_id is None and h.qty_invoiced == 0 and h.qty > 0]
    if allow_split:
        return tuple(WaitingLine(h.item_id, h.qty) for h in undistributed)
    groups: dict[tuple[int, int], int] = {}
    for h in undistributed:
        groups[(h.shopify_line_id, h.item_id)] = groups.get((h.shopify_line_id, h.item_id), 0) + h.qty
    return tuple(WaitingLine(item, qty) for (_, item), qty in groups.items())


def items_of(waiting: Sequence[WaitingOrder]) -> tuple[int, ...]:
    """Every item any waiting order needs: the one stock read asks for all of them."""
    return tuple(sorted({ln.item_id for w in waiting for ln in w.lines}))


def free_units(stock: Mapping[Unit, int], held: Mapping[Unit, int]) -> dict[Unit, int]:
    """Units nobody has: Heartland's available less what mortard's orders hold but Heartland doesn't
    count yet (their orders are still pending)."""
    return {u: q - held.get(u, 0) for u, q in stock.items() if q - held.get(u, 0) > 0}


def choose_replans(waiting: Sequence[WaitingOrder], stock: Mapping[Unit, int],
                   held: Mapping[Unit, int] | None = None) -> Choice:
    """Which waiting orders can now route a line, handing out free units oldest order first.

    A line takes its units from one location (the first of the order's preferences with enough,
    else the location with the most free): the planner moves an undistributed line whole. An order
    is re-planned when at least one of its lines gets units; an older order that can't use a unit
    leaves it to younger ones. No unit is handed out twice."""
    left = free_units(stock, held or {})
    replan: list[Key] = []
    still: list[Key] = []
    routed: dict[Key, tuple[tuple[int, int, int], ...]] = {}
    for w in sorted(waiting, key=lambda w: (w.since, w.key)):
        took: list[tuple[int, int, int]] = []
        for ln in w.lines:
            loc = _location_for(ln, w.locations, left)
            if loc is None:
                continue
            left[(ln.item_id, loc)] -= ln.qty
            took.append((ln.item_id, loc, ln.qty))
        if took:
            replan.append(w.key)
            routed[w.key] = tuple(took)
        else:
            still.append(w.key)
    return Choice(tuple(replan), routed, tuple(still))


def _location_for(ln: WaitingLine, preferred: Sequence[int], left: Mapping[Unit, int]) -> int | None:
    if preferred:
        for loc in preferred:
            if left.get((ln.item_id, loc), 0) >= ln.qty:
                return loc
        return None
    best = max(((q, -loc) for (item, loc), q in left.items() if item == ln.item_id), default=None)
    if best is None or best[0] < ln.qty:
        return None
    return -best[1]


# -- the call budget ---------------------------------------------------------------------------

def call_budget(share: float, rate_per_second: float, interval_s: float, floor: int = 2) -> int:
    """Heartland calls one pass of the watch may make: its share of what the account's rate allows
    per interval, and at least `floor` (a stock read and a header read) so it never stalls."""
    return max(floor, int(share * rate_per_second * interval_s))


# Ids per `$in` header read (`GET /sales/orders`). Max per_page is UNKNOWN [DOC §1; Heartland's own
# importer uses 5000]; a lower cap only means more pages, which the client follows. 250 ids keep
# the URL under ~3 kB.
HEADER_IDS = 250


def rotated(rows: Sequence[Any], start: int) -> list[Any]:
    """`rows` from `start` on, then the rest: passes that can't reach all rows share them out."""
    if not rows:
        return []
    start %= len(rows)
    return [*rows[start:], *rows[:start]]


def requests_for(n: int, chunk: int = 100) -> int:
    """Requests an `$in` read of `n` ids takes (the client sends 100 ids a request)."""
    return 0 if n <= 0 else -(-n // chunk)


# -- what staff changed ------------------------------------------------------------------------

# Why a pending order waits that staff can fix in Heartland (heartland-api.md §2: "Fix = correct the
# order, then set status open"). Other reasons (an unknown item, a currency mortard can't book, no
# payment type…) are mortard's to resolve from Shopify or its settings: the watch never opens those.
STAFF_FIXABLE = frozenset({"total_mismatch", "required_custom_field", "missing_addresses",
                           "refund_on_open_order", "heartland_refused_open"})


def staff_can_fix(reasons: Sequence[str]) -> bool:
    return bool(reasons) and all(code in STAFF_FIXABLE for code in reasons)


@dataclass(frozen=True, slots=True)
class OrderHeader:
    """A sales order as `GET /sales/orders` lists it (the documented header fields)."""

    order_id: int
    status: str
    total: Decimal | None
    billing_address_id: int | None
    shipping_address_id: int | None
    custom: Mapping[str, Any] = field(default_factory=dict)


def header_changes(mirror: Mirror, header: OrderHeader, sent_custom: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """What differs between a header and what mortard last knew (empty: nothing visible changed).
    Payments are not on the header: a full read (`read_order`) sees those."""
    out: dict[str, Any] = {}
    if mirror.status is not None and header.status != mirror.status:
        out["status"] = [mirror.status, header.status]
    if header.total is not None and mirror.lines and header.total != mirror.order_total:
        out["total"] = [str(mirror.order_total), str(header.total)]
    for name in ("billing_address_id", "shipping_address_id"):
        was, now = getattr(mirror, name), getattr(header, name)
        if now is not None and now != was:
            out[name] = [was, now]
    if sent_custom is not None:
        filled = {k: v for k, v in header.custom.items() if v not in (None, "") and sent_custom.get(k) != v}
        if filled:
            out["custom"] = filled
    return out


def line_changes(mine: Sequence[HLine], theirs: Sequence[tuple[int, int, int, int | None]]) -> list[dict[str, Any]]:
    """Heartland's lines (id, item, qty, ship-from) against the mirror's: added, removed, changed."""
    have = {h.id: h for h in mine}
    seen = {t[0]: t for t in theirs}
    out: list[dict[str, Any]] = []
    for line_id, item, qty, loc in theirs:
        h = have.get(line_id)
        if h is None:
            out.append({"line": line_id, "added": {"item_id": item, "qty": qty, "location_id": loc}})
        elif (h.qty, h.location_id) != (qty, loc):
            out.append({"line": line_id, "was": {"qty": h.qty, "location_id": h.location_id},
                        "now": {"qty": qty, "location_id": loc}})
    for line_id, h in have.items():
        if line_id not in seen:
            out.append({"line": line_id, "removed": {"item_id": h.item_id, "qty": h.qty}})
    return out


def payment_changes(mine: Sequence[Any], theirs: Sequence[Any]) -> list[dict[str, Any]]:
    """Payments (id, amount) Heartland holds that mortard didn't make, and those gone."""
    have = {p.id: p.amount for p in mine}
    seen = {p.id: p.amount for p in theirs}
    out: list[dict[str, Any]] = []
    for pid, amount in seen.items():
        if pid not in have:
            out.append({"payment": pid, "added": str(amount)})
        elif have[pid] != amount:
            out.append({"payment": pid, "was": str(have[pid]), "now": str(amount)})
    for pid, amount in have.items():
        if pid not in seen:
            out.append({"payment": pid, "removed": str(amount)})
    return out
