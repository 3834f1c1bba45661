"""Counts over mortard's tables, read-only: orders by state (the daemon's gauges, `mortard orders
list`), and what the demo watches while it runs and sums up afterwards (`mortard.demo`).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mortard.store.db import Queryable
from mortard.store.resolutions import RESOLVED, STATE_OR_RESOLVED

__all__ = ["EXPLORE_QUERIES", "EventCounts", "IntakeProgress", "InvoiceLatency", "OrderOutcome", "SettledCounts",
           "dead_letters_by_reason", "documents_by_kind", "event_counts", "intake_progress", "invoice_latency",
           "order_outcomes", "orders_by_state", "settled_counts"]

# A resolved order (a person marked it handled: `store.resolutions`) counts as `resolved`, not in its state.
_ORDERS_BY_STATE = f"""
SELECT {STATE_OR_RESOLVED} AS sync_state, count(*) AS n FROM orders o WHERE ($1::text IS NULL OR o.shop = $1)
GROUP BY 1 ORDER BY 1
"""

# An order is busy while it has events not yet worked or a daemon holds it.
_BUSY = "due_seq > done_seq OR lease_owner IS NOT NULL"

_SETTLED = f"SELECT count(*) FILTER (WHERE {_BUSY}) AS busy, count(*) AS total FROM orders"

_INTAKE = f"""
SELECT (SELECT count(*) FROM events) AS events, (SELECT count(*) FROM dead_letters) AS dead_letters,
       (SELECT count(*) FROM orders WHERE {_BUSY}) AS busy,
       (SELECT count(*) FROM orders WHERE sync_state IN ('received', 'creating')) AS unfinished
"""

_OUTCOMES = f"SELECT shop, sync_state, pending_reasons, heartland_order_id, {_BUSY} AS busy FROM orders"

_DEAD_LETTERS_BY_REASON = "SELECT reason, count(*) AS n FROM dead_letters GROUP BY reason ORDER BY reason"

_DOCUMENTS_BY_KIND = "SELECT kind, count(*) AS n FROM heartland_documents GROUP BY kind ORDER BY kind"

# Seconds from an order's first webhook to its invoice.
_INVOICE_LATENCY = """
SELECT count(*) AS n,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM invoiced_at - first_event_at)) AS p50,
       percentile_cont(0.99) WITHIN GROUP (ORDER BY extract(epoch FROM invoiced_at - first_event_at)) AS p99,
       max(extract(epoch FROM invoiced_at - first_event_at)) AS max
FROM orders WHERE invoiced_at IS NOT NULL
"""

_EVENT_COUNTS = "SELECT count(*) AS n, count(*) FILTER (WHERE stale) AS stale FROM events"

#: Queries for a person to try in psql after the demo (`mortard demo --keep` prints them).
EXPLORE_QUERIES: tuple[str, ...] = (
    "SELECT order_name, sync_state, pending_reasons FROM orders ORDER BY order_name",
    "SELECT sync_state, count(*) FROM orders GROUP BY 1 ORDER BY 2 DESC",
    "SELECT kind, public_id, location_id, amount FROM heartland_documents ORDER BY id",
    "SELECT order_id, action, status, http_status FROM journal ORDER BY id DESC LIMIT 20",
    "SELECT reason, detail FROM dead_letters",
)


@dataclass(frozen=True, slots=True)
class SettledCounts:
    busy: int
    total: int


@dataclass(frozen=True, slots=True)
class IntakeProgress:
    events: int
    dead_letters: int
    busy: int              # orders with events not yet worked, or held by a daemon
    unfinished: int        # orders still `received` or `creating`


@dataclass(frozen=True, slots=True)
class OrderOutcome:
    shop: str
    sync_state: str
    pending_reasons: list[Any]
    heartland_order_id: int | None
    busy: bool


@dataclass(frozen=True, slots=True)
class InvoiceLatency:
    invoiced: int          # orders invoiced; the times are None when there are none
    p50_s: float | None
    p99_s: float | None
    max_s: float | None


@dataclass(frozen=True, slots=True)
class EventCounts:
    stored: int
    stale: int             # kept, but older than the snapshot the order had


def _float(value: Any) -> float | None:
    return None if value is None else float(value)


async def orders_by_state(db: Queryable, shop: str | None = None) -> dict[str, int]:
    """state -> how many orders (of `shop`, or of every shop) are in it, by state name; states no
    order is in are left out. Resolved orders count as `resolved` (`store.resolutions`)."""
    return {r["sync_state"]: int(r["n"]) for r in await db.fetch(_ORDERS_BY_STATE, shop)}


_PENDING_REASONS = f"""
SELECT r->>'code' AS code, count(*) AS n
FROM orders o, jsonb_array_elements(o.pending_reasons) AS r
WHERE o.sync_state = 'pending' AND NOT {RESOLVED}
GROUP BY 1
"""


async def pending_reasons(db: Queryable) -> dict[str, int]:
    """reason code -> how many unresolved pending orders give it (an order may give several)."""
    return {r["code"]: int(r["n"]) for r in await db.fetch(_PENDING_REASONS)}


async def settled_counts(db: Queryable) -> SettledCounts:
    r = await db.fetchrow(_SETTLED)
    return SettledCounts(int(r["busy"]), int(r["total"]))


async def intake_progress(db: Queryable) -> IntakeProgress:
    r = await db.fetchrow(_INTAKE)
    return IntakeProgress(int(r["events"]), int(r["dead_letters"]), int(r["busy"]), int(r["unfinished"]))


async def order_outcomes(db: Queryable) -> list[OrderOutcome]:
    """Every order's state, reasons, Heartland id and whether it is still being worked."""
    return [OrderOutcome(r["shop"], r["sync_state"], r["pending_reasons"], r["heartland_order_id"], bool(r["busy"]))
            for r in await db.fetch(_OUTCOMES)]


async def dead_letters_by_reason(db: Queryable) -> dict[str, int]:
    return {r["reason"]: int(r["n"]) for r in await db.fetch(_DEAD_LETTERS_BY_REASON)}


async def documents_by_kind(db: Queryable) -> dict[str, int]:
    """kind -> Heartland documents of that kind mortard recorded creating, by kind."""
    return {r["kind"]: int(r["n"]) for r in await db.fetch(_DOCUMENTS_BY_KIND)}


async def invoice_latency(db: Queryable) -> InvoiceLatency:
    r = await db.fetchrow(_INVOICE_LATENCY)
    return InvoiceLatency(int(r["n"]), _float(r["p50"]), _float(r["p99"]), _float(r["max"]))


async def event_counts(db: Queryable) -> EventCounts:
    r = await db.fetchrow(_EVENT_COUNTS)
    return EventCounts(int(r["n"]), int(r["stale"]))
