"""Reconciliation's SQL: the per-shop watermark, which listed orders are already stored, and taking
fetched orders into the inbox by the consumer's own statement (`inbox.write_batch`), with their source."""
from __future__ import annotations

from datetime import datetime
from typing import Sequence

import asyncpg

from mortard.store.events import InboxEvent
from mortard.store.inbox import write_batch

_WATERMARK_SQL = "SELECT watermark FROM shopify_reconcile WHERE shop = $1"

_ADVANCE_SQL = """
INSERT INTO shopify_reconcile AS r (shop, watermark, updated_at) VALUES ($1, $2, now())
ON CONFLICT (shop) DO UPDATE SET watermark = GREATEST(r.watermark, excluded.watermark), updated_at = now()
"""

_RUN_SQL = """
INSERT INTO shopify_reconcile AS r (shop, last_run_at, last_ok_at, last_error, recovered)
VALUES ($1, now(), CASE WHEN $2 THEN now() END, $3, $4)
ON CONFLICT (shop) DO UPDATE SET last_run_at = now(),
    last_ok_at = CASE WHEN $2 THEN now() ELSE r.last_ok_at END,
    last_error = $3, recovered = r.recovered + $4, updated_at = now()
"""

_STORED_SQL = """
SELECT order_id, snapshot_updated_at FROM orders WHERE shop = $1 AND order_id = ANY($2::bigint[])
"""

_SOURCE_SQL = "UPDATE events SET source = $3 WHERE shop = $1 AND dedupe_key = ANY($2::text[])"

# Take or keep the shop's reconciliation for `ttl` seconds; true if this owner has it.
_LEAD_SQL = """
INSERT INTO shopify_reconcile AS r (shop, leader, leader_until) VALUES ($1, $2, now() + make_interval(secs => $3))
ON CONFLICT (shop) DO UPDATE SET leader = excluded.leader, leader_until = excluded.leader_until
    WHERE r.leader IS NULL OR r.leader = excluded.leader OR r.leader_until < now()
RETURNING leader
"""

_STATUS_SQL = """
SELECT shop, watermark, last_run_at, last_ok_at, last_error, recovered FROM shopify_reconcile ORDER BY shop
"""


class ReconcileStore:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def watermark(self, shop: str) -> datetime | None:
        return await self._pool.fetchval(_WATERMARK_SQL, shop)

    async def advance_watermark(self, shop: str, to: datetime) -> None:
        """Never moves back: two daemons reconciling the same shop only ever push it forward."""
        await self._pool.execute(_ADVANCE_SQL, shop, to)

    async def record_run(self, shop: str, *, ok: bool, error: str | None, recovered: int) -> None:
        await self._pool.execute(_RUN_SQL, shop, ok, error[:2000] if error else None, recovered)

    async def stored_updated_at(self, shop: str, order_ids: Sequence[int]) -> dict[int, datetime | None]:
        rows = await self._pool.fetch(_STORED_SQL, shop, list(order_ids))
        return {r["order_id"]: r["snapshot_updated_at"] for r in rows}

    async def take_in(self, events: Sequence[InboxEvent], source: str) -> list[bool]:
        """Store fetched orders exactly as consumed webhooks are stored (same dedupe, same newest-snapshot
        merge, order marked due) and mark where they came from, in one transaction."""
        if not events:
            return []
        async with self._pool.acquire() as conn:
            async with conn.transaction():
                new = await write_batch(conn, events)
                by_shop: dict[str, list[str]] = {}
                for e in events:
                    by_shop.setdefault(e.shop, []).append(e.dedupe_key)
                for shop, keys in by_shop.items():
                    await conn.execute(_SOURCE_SQL, shop, keys, source)
        return new

    async def lead(self, shop: str, owner: str, ttl_s: float) -> bool:
        return await self._pool.fetchval(_LEAD_SQL, shop, owner, float(ttl_s)) == owner

    async def status(self) -> list[dict[str, object]]:
        return [dict(r) for r in await self._pool.fetch(_STATUS_SQL)]
