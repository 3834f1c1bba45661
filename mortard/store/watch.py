"""The watch's SQL (`mortard/sync/watch.py` decides, `mortard/sync/watch_runner.py` runs it):
which orders wait, the units other orders hold, whose pass it is, making chosen orders due, and
the drift staff made in Heartland (`migrations/0005_watch.sql`).
"""
from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from mortard.store.db import Queryable

__all__ = ["DriftRow", "WatchedOrder", "WatchStore", "drift_for"]

# Settled orders only (no events unworked, no daemon holding them): the mirror is what mortard last
# wrote, so a difference in Heartland is someone else's.
_WATCHED = """
SELECT shop, order_id, order_name, sync_state, first_event_at, updated_at, mirror, heartland_order_id,
       snapshot -> 'tags' AS tags, CASE WHEN sync_state = 'pending' THEN snapshot END AS snapshot,
       pending_reasons
FROM orders
WHERE shop = ANY($1::text[]) AND sync_state = ANY($2::text[]) AND heartland_order_id IS NOT NULL
  AND lease_owner IS NULL AND due_seq = done_seq
  AND ($3::float8 IS NULL OR state_changed_at > now() - $3::float8 * interval '1 second')
ORDER BY first_event_at, shop, order_id
LIMIT $4
"""

_HELD = """
SELECT item_id, location_id, held FROM stock_counters
WHERE account = $1 AND item_id = ANY($2::bigint[]) AND held > 0
"""

# The pass is this daemon's if the account's turn has come (or no daemon took one yet).
_TAKE_TURN = """
INSERT INTO watch_turns (account, next_at, owner) VALUES ($1, now() + $3::float8 * interval '1 second', $2)
ON CONFLICT (account) DO UPDATE SET next_at = EXCLUDED.next_at, owner = EXCLUDED.owner
WHERE watch_turns.next_at <= now()
RETURNING account
"""

# Due now, oldest first by next_attempt_at (the sweeper claims by it), only if still settled in
# the state the watch saw; with a note in the order's history saying why.
_MAKE_DUE = """
WITH k AS (
    SELECT * FROM unnest($1::text[], $2::bigint[], $3::int[]) AS k(shop, order_id, rank)
), upd AS (
    UPDATE orders o SET due_seq = o.due_seq + 1, next_attempt_at = now() - interval '1 hour' + k.rank * interval '1 millisecond',
                        mirror_dirty = o.mirror_dirty OR $5, updated_at = now()
    FROM k WHERE o.shop = k.shop AND o.order_id = k.order_id AND o.sync_state = ANY($4::text[])
      AND o.lease_owner IS NULL AND o.due_seq = o.done_seq
    RETURNING o.shop, o.order_id, k.rank
), h AS (
    INSERT INTO order_history (shop, order_id, kind, detail)
    SELECT shop, order_id, 'note', $6::jsonb FROM upd
)
SELECT shop, order_id FROM upd ORDER BY rank
"""

# Once per distinct change, and only while the order is as the watch read it (no run since).
_DRIFT = """
INSERT INTO order_drift (shop, order_id, kind, detail, fingerprint)
SELECT $1, $2, $3, $4::jsonb, $5
WHERE EXISTS (SELECT 1 FROM orders WHERE shop = $1 AND order_id = $2 AND updated_at = $6 AND lease_owner IS NULL)
ON CONFLICT (shop, order_id, fingerprint) DO NOTHING
RETURNING id
"""

_DRIFT_FOR = """
SELECT kind, detail, noticed_at FROM order_drift WHERE shop = $1 AND order_id = $2 ORDER BY id
"""


@dataclass(frozen=True, slots=True)
class WatchedOrder:
    shop: str
    order_id: int
    order_name: str | None
    sync_state: str
    first_event_at: datetime
    updated_at: datetime
    mirror: dict[str, Any]
    heartland_order_id: int
    tags: Any
    snapshot: dict[str, Any] | None = None    # pending orders only: what mortard sent came from it
    reasons: tuple[str, ...] = ()             # the reason codes it waits for


@dataclass(frozen=True, slots=True)
class DriftRow:
    kind: str
    detail: dict[str, Any]
    noticed_at: datetime


class WatchStore:
    """What the watch runner asks of Postgres."""

    def __init__(self, db: Queryable, owner: str) -> None:
        self._db = db
        self.owner = owner

    async def take_turn(self, account: str, interval_s: float) -> bool:
        return await self._db.fetchval(_TAKE_TURN, account, self.owner, interval_s) is not None

    async def watched(self, shops: Sequence[str], states: Sequence[str], *, within_s: float | None = None,
                      limit: int = 10_000) -> list[WatchedOrder]:
        rows = await self._db.fetch(_WATCHED, list(shops), list(states), within_s, limit)
        return [WatchedOrder(r["shop"], r["order_id"], r["order_name"], r["sync_state"], r["first_event_at"],
                             r["updated_at"], r["mirror"] or {}, r["heartland_order_id"], r["tags"], r["snapshot"],
                             tuple(x.get("code", "") for x in (r["pending_reasons"] or []) if isinstance(x, dict))) for r in rows]

    async def held(self, account: str, item_ids: Iterable[int]) -> dict[tuple[int, int], int]:
        rows = await self._db.fetch(_HELD, account, list(item_ids))
        return {(r["item_id"], r["location_id"]): int(r["held"]) for r in rows}

    async def make_due(self, keys: Sequence[tuple[str, int]], states: Sequence[str], *, dirty: bool,
                       why: str) -> list[tuple[str, int]]:
        """Make these settled orders due (in this order); those a run took meanwhile are left."""
        if not keys:
            return []
        rows = await self._db.fetch(_MAKE_DUE, [k[0] for k in keys], [k[1] for k in keys], list(range(len(keys))),
                                    list(states), dirty, {"action": "watch", "why": why})
        return [(r["shop"], r["order_id"]) for r in rows]

    async def record_drift(self, shop: str, order_id: int, kind: str, detail: dict[str, Any],
                           seen_at: datetime) -> bool:
        """True if this is news (not recorded before, and the order is still as read)."""
        text = json.dumps(detail, sort_keys=True, default=str)
        fingerprint = hashlib.sha256(f"{kind}:{text}".encode()).hexdigest()[:24]
        return await self._db.fetchval(_DRIFT, shop, order_id, kind, json.loads(text), fingerprint,
                                       seen_at) is not None


async def drift_for(db: Queryable, shop: str, order_id: int) -> list[DriftRow]:
    """The drift the watch noticed on an order, oldest first (`mortard orders show`)."""
    return [DriftRow(r["kind"], r["detail"], r["noticed_at"]) for r in await db.fetch(_DRIFT_FOR, shop, order_id)]
