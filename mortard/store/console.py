"""What the web console reads and writes (mortard/console/): counts per shop, the queues a person
works through, an operator's resolve notes, and the series its charts draw.

A *resolved* order is one a person marked handled (`resolve`, from `store.resolutions`, re-exported
here): a note in its history that remembers the order's `due_seq`. It stays resolved until something
new happens to the order (an event, a retry: `due_seq` moves on), when it comes back into the queues
by itself.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from mortard.store.db import Queryable
from mortard.store.resolutions import (RESOLVE_ACTION, RESOLVED as _RESOLVED, STATE_OR_RESOLVED, Resolution,
                                       resolution, resolve)
from mortard.store.order_filters import reason_is

__all__ = ["LatencyPoint", "QueueFilter", "QueueLetter", "QueueOrder", "Resolution", "counts_by_shop",
           "dead_letter_queue", "latency_series", "matching_orders", "needs_a_person", "order_queue",
           "RESOLVE_ACTION", "resolution", "resolve", "shops_seen", "synced_per_minute"]

# A resolved order counts as `resolved`, as in `mortard orders list` and the mortard_orders gauge.
_COUNTS_BY_SHOP = f"SELECT o.shop, {STATE_OR_RESOLVED} AS sync_state, count(*) AS n FROM orders o GROUP BY 1, 2 ORDER BY 1, 2"

_NEEDS = f"""
SELECT sync_state, count(*) AS n FROM orders o
WHERE sync_state IN ('pending', 'dead', 'waiting_stock', 'failed') AND NOT {_RESOLVED}
GROUP BY 1
"""

_LETTERS_WAITING = "SELECT count(*) FROM dead_letters WHERE replayed_at IS NULL"

_SHOPS = "SELECT DISTINCT shop FROM orders ORDER BY shop"

# Oldest state change first: who has waited longest comes first. Every filter may be NULL.
_QUEUE = f"""
SELECT o.shop, o.order_id, o.order_name, o.sync_state, o.state_changed_at, o.attempts, o.pending_reasons,
       o.last_error, o.next_attempt_at, o.heartland_order_id, {_RESOLVED} AS resolved
FROM orders o
WHERE o.sync_state = ANY($1::text[])
  AND ($2::text IS NULL OR o.shop = $2)
  AND {reason_is('$3')}
  AND ($4::float8 IS NULL OR o.state_changed_at <= now() - make_interval(secs => $4))
  AND ($5 OR NOT {_RESOLVED})
ORDER BY o.state_changed_at, o.shop, o.order_id
LIMIT $6
"""

_LETTERS = """
SELECT id, created_at, kafka_topic, kafka_partition, kafka_offset, reason, detail, replayed_at,
       octet_length(value) AS value_bytes
FROM dead_letters
WHERE ($1::text IS NULL OR reason = $1)
  AND ($2::float8 IS NULL OR created_at <= now() - make_interval(secs => $2))
  AND ($3 OR replayed_at IS NULL)
ORDER BY id
LIMIT $4
"""

# Orders that reached `invoiced`, per minute and shop, over the last $1 seconds.
_SYNCED = """
SELECT shop, date_trunc('minute', invoiced_at) AS at, count(*) AS n
FROM orders WHERE invoiced_at >= now() - make_interval(secs => $1)
GROUP BY 1, 2 ORDER BY 1, 2
"""

# Seconds from an order's first event to its invoice, per bucket of $2 seconds and shop.
_LATENCY = """
SELECT shop, to_timestamp(floor(extract(epoch FROM invoiced_at) / $2) * $2) AS at, count(*) AS n,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM invoiced_at - first_event_at)) AS p50,
       percentile_cont(0.95) WITHIN GROUP (ORDER BY extract(epoch FROM invoiced_at - first_event_at)) AS p95
FROM orders WHERE invoiced_at >= now() - make_interval(secs => $1)
GROUP BY 1, 2 ORDER BY 1, 2
"""


@dataclass(frozen=True, slots=True)
class QueueFilter:
    """Which orders a queue shows (and `retry all matching` retries): None means any."""
    states: tuple[str, ...]
    shop: str | None = None
    reason: str | None = None
    min_age_s: float | None = None
    include_resolved: bool = False


@dataclass(frozen=True, slots=True)
class QueueOrder:
    shop: str
    order_id: int
    order_name: str | None
    sync_state: str
    state_changed_at: datetime
    attempts: int
    pending_reasons: list[Any]
    last_error: str | None
    next_attempt_at: datetime | None
    heartland_order_id: int | None
    resolved: bool


@dataclass(frozen=True, slots=True)
class QueueLetter:
    id: int
    created_at: datetime
    kafka_topic: str
    kafka_partition: int
    kafka_offset: int
    reason: str
    detail: str | None
    replayed_at: datetime | None
    value_bytes: int | None


@dataclass(frozen=True, slots=True)
class LatencyPoint:
    at: datetime
    orders: int
    p50_s: float
    p95_s: float


async def counts_by_shop(db: Queryable) -> dict[str, dict[str, int]]:
    """shop -> state -> orders."""
    out: dict[str, dict[str, int]] = {}
    for r in await db.fetch(_COUNTS_BY_SHOP):
        out.setdefault(r["shop"], {})[r["sync_state"]] = int(r["n"])
    return out


async def needs_a_person(db: Queryable) -> dict[str, int]:
    """Unresolved orders pending, dead, waiting for stock or failing, by state, and `dead_letters`
    not replayed."""
    out = {r["sync_state"]: int(r["n"]) for r in await db.fetch(_NEEDS)}
    out["dead_letters"] = int(await db.fetchval(_LETTERS_WAITING))
    return out


async def shops_seen(db: Queryable) -> list[str]:
    return [r["shop"] for r in await db.fetch(_SHOPS)]


async def order_queue(db: Queryable, f: QueueFilter, limit: int) -> list[QueueOrder]:
    rows = await db.fetch(_QUEUE, list(f.states), f.shop, f.reason, f.min_age_s, f.include_resolved, limit)
    return [QueueOrder(**dict(r)) for r in rows]


async def matching_orders(db: Queryable, f: QueueFilter, limit: int) -> list[tuple[str, int]]:
    """(shop, order id) of the orders `f` matches, the longest waiting first."""
    return [(o.shop, o.order_id) for o in await order_queue(db, f, limit)]


async def dead_letter_queue(db: Queryable, *, reason: str | None = None, min_age_s: float | None = None,
                            include_replayed: bool = False, limit: int) -> list[QueueLetter]:
    rows = await db.fetch(_LETTERS, reason, min_age_s, include_replayed, limit)
    return [QueueLetter(**dict(r)) for r in rows]


async def synced_per_minute(db: Queryable, window_s: float) -> dict[str, list[tuple[datetime, int]]]:
    """shop -> [(minute, orders invoiced in it)], minutes with none left out."""
    out: dict[str, list[tuple[datetime, int]]] = {}
    for r in await db.fetch(_SYNCED, float(window_s)):
        out.setdefault(r["shop"], []).append((r["at"], int(r["n"])))
    return out


async def latency_series(db: Queryable, window_s: float, bucket_s: float) -> dict[str, list[LatencyPoint]]:
    """shop -> event → invoiced latency per bucket (median and 95th percentile, seconds)."""
    out: dict[str, list[LatencyPoint]] = {}
    for r in await db.fetch(_LATENCY, float(window_s), float(bucket_s)):
        out.setdefault(r["shop"], []).append(LatencyPoint(r["at"], int(r["n"]), float(r["p50"]), float(r["p95"])))
    return out
