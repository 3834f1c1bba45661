"""Orders in Postgres: claiming with a lease, the mutation journal, and recording outcomes.

Every state change is one statement (CTEs) so a step costs one round trip, and every write that
belongs to a claimed order checks the lease: a daemon that lost its lease can't overwrite the new
owner's work.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from mortard.sync.actions import Reason
from mortard.sync.errors import LeaseLost

__all__ = ["LeaseLost", "OrderRow", "OrderStore"]


@dataclass(frozen=True, slots=True)
class OrderRow:
    shop: str
    order_id: int
    order_name: str | None
    snapshot: dict[str, Any] | None
    refunds: dict[str, Any]
    transactions: dict[str, Any]
    sync_state: str
    mirror: dict[str, Any]
    mirror_dirty: bool
    open_journal: int
    attempts: int
    due_seq: int
    first_event_at: datetime


_CLAIM_ONE = """
UPDATE orders SET lease_owner = $3, lease_until = now() + make_interval(secs => $4)
WHERE shop = $1 AND order_id = $2
  AND (lease_until IS NULL OR lease_until < now() OR lease_owner = $3)
  AND (due_seq > done_seq OR next_attempt_at <= now())
RETURNING shop
"""

_CLAIM_DUE = """
WITH c AS (
    SELECT shop, order_id FROM orders
    WHERE ((due_seq > done_seq AND (next_attempt_at IS NULL OR next_attempt_at <= now()))
           OR next_attempt_at <= now())
      AND (lease_until IS NULL OR lease_until < now())
    ORDER BY coalesce(next_attempt_at, updated_at)
    LIMIT $3
    FOR UPDATE SKIP LOCKED
)
UPDATE orders o SET lease_owner = $1, lease_until = now() + make_interval(secs => $2)
FROM c WHERE o.shop = c.shop AND o.order_id = c.order_id
RETURNING o.shop, o.order_id
"""

_LOAD = """
SELECT shop, order_id, order_name, snapshot, refunds, transactions, sync_state, mirror, mirror_dirty,
       attempts, due_seq, first_event_at,
       (SELECT count(*) FROM journal j WHERE j.shop = o.shop AND j.order_id = o.order_id
          AND j.status IN ('sent', 'ambiguous')) AS open_journal
FROM orders o WHERE shop = $1 AND order_id = $2 AND lease_owner = $3
"""

_JOURNAL_BEGIN = """
WITH lease AS (
    UPDATE orders SET lease_until = now() + make_interval(secs => $7)
    WHERE shop = $1 AND order_id = $2 AND lease_owner = $6 RETURNING 1
)
INSERT INTO journal (shop, order_id, action, fingerprint, request)
SELECT $1, $2, $3, $4, $5 FROM lease
RETURNING id
"""

_JOURNAL_OK = """
WITH j AS (
    UPDATE journal SET status = 'ok', heartland_id = $4, finished_at = now(), http_status = $5
    WHERE id = $3
), d AS (
    INSERT INTO heartland_documents (shop, order_id, kind, heartland_id, public_id, location_id, amount, detail)
    SELECT $1, $2, $9, $4, $10, $11, $12, $13 WHERE $9::text IS NOT NULL AND $4::bigint IS NOT NULL
    ON CONFLICT (shop, kind, heartland_id) DO NOTHING
)
UPDATE orders SET mirror = $6, heartland_order_id = coalesce($8, heartland_order_id),
                  lease_until = now() + make_interval(secs => $14), updated_at = now()
WHERE shop = $1 AND order_id = $2 AND lease_owner = $7
RETURNING 1
"""

_JOURNAL_FAIL = """
WITH j AS (
    UPDATE journal SET status = $4, error = $5, http_status = $6, response = $7, finished_at = now()
    WHERE id = $3
)
UPDATE orders SET mirror_dirty = mirror_dirty OR $4 = 'ambiguous', updated_at = now()
WHERE shop = $1 AND order_id = $2
"""

_SAVE_MIRROR = """
WITH j AS (
    UPDATE journal SET status = 'resolved', finished_at = coalesce(finished_at, now())
    WHERE shop = $1 AND order_id = $2 AND status IN ('sent', 'ambiguous') AND $5
)
UPDATE orders SET mirror = $3, mirror_dirty = false, heartland_order_id = coalesce($6, heartland_order_id),
                  updated_at = now()
WHERE shop = $1 AND order_id = $2 AND lease_owner = $4
RETURNING 1
"""

_FINISH = """
WITH old AS (
    SELECT sync_state FROM orders WHERE shop = $1 AND order_id = $2 AND lease_owner = $3 FOR UPDATE
), upd AS (
    UPDATE orders SET
        sync_state = $4,
        state_changed_at = CASE WHEN sync_state <> $4 THEN now() ELSE state_changed_at END,
        pending_reasons = $5, last_error = $6, done_seq = greatest(done_seq, $7),
        attempts = CASE WHEN $8 THEN 0 ELSE attempts + 1 END,
        next_attempt_at = $9, lease_owner = NULL, lease_until = NULL,
        invoiced_at = CASE WHEN $4 = 'invoiced' THEN coalesce(invoiced_at, now()) ELSE invoiced_at END,
        heartland_account = coalesce(heartland_account, $10), updated_at = now()
    WHERE shop = $1 AND order_id = $2 AND lease_owner = $3
    RETURNING due_seq
), h AS (
    INSERT INTO order_history (shop, order_id, kind, from_state, to_state, detail)
    SELECT $1, $2, 'state', old.sync_state, $4, jsonb_build_object('reasons', $5::jsonb, 'error', $6::text)
    FROM old WHERE old.sync_state <> $4 OR $6::text IS NOT NULL
)
SELECT due_seq FROM upd
"""


class OrderStore:
    def __init__(self, pool: asyncpg.Pool, owner: str, lease_s: float) -> None:
        self._pool = pool
        self.owner = owner
        self._lease_s = lease_s

    async def claim_one(self, shop: str, order_id: int) -> bool:
        return await self._pool.fetchval(_CLAIM_ONE, shop, order_id, self.owner, self._lease_s) is not None

    async def claim_due(self, limit: int) -> list[tuple[str, int]]:
        if limit <= 0:
            return []
        rows = await self._pool.fetch(_CLAIM_DUE, self.owner, self._lease_s, limit)
        return [(r["shop"], r["order_id"]) for r in rows]

    async def load(self, shop: str, order_id: int) -> OrderRow:
        r = await self._pool.fetchrow(_LOAD, shop, order_id, self.owner)
        if r is None:
            raise LeaseLost(f"{shop}/{order_id}")
        return OrderRow(**dict(r))

    async def journal_begin(self, shop: str, order_id: int, action: str, fingerprint: str,
                            request: dict[str, Any]) -> int:
        jid = await self._pool.fetchval(_JOURNAL_BEGIN, shop, order_id, action, fingerprint, request,
                                        self.owner, self._lease_s)
        if jid is None:
            raise LeaseLost(f"{shop}/{order_id}")
        return int(jid)

    async def journal_ok(self, shop: str, order_id: int, journal_id: int, heartland_id: int | None,
                         mirror: dict[str, Any], heartland_order_id: int | None, *, http_status: int = 200,
                         document: dict[str, Any] | None = None) -> None:
        doc = document or {}
        ok = await self._pool.fetchval(
            _JOURNAL_OK, shop, order_id, journal_id, heartland_id, http_status, mirror, self.owner,
            heartland_order_id, doc.get("kind"), doc.get("public_id"), doc.get("location_id"),
            doc.get("amount"), doc.get("detail", {}), self._lease_s)
        if ok is None:
            raise LeaseLost(f"{shop}/{order_id}")

    async def journal_failed(self, shop: str, order_id: int, journal_id: int, *, ambiguous: bool, error: str,
                             http_status: int | None, response: Any = None) -> None:
        await self._pool.execute(_JOURNAL_FAIL, shop, order_id, journal_id,
                                 "ambiguous" if ambiguous else "failed", error[:2000], http_status, response)

    async def save_mirror(self, shop: str, order_id: int, mirror: dict[str, Any], *, resolved: bool = False,
                          heartland_order_id: int | None = None) -> None:
        ok = await self._pool.fetchval(_SAVE_MIRROR, shop, order_id, mirror, self.owner, resolved,
                                       heartland_order_id)
        if ok is None:
            raise LeaseLost(f"{shop}/{order_id}")

    async def finish(self, shop: str, order_id: int, *, state: str, reasons: tuple[Reason, ...] = (),
                     error: str | None = None, seen_seq: int, success: bool,
                     next_attempt_at: datetime | None = None, account: str | None = None) -> bool:
        """Record the outcome and release the lease; True if newer events arrived meanwhile."""
        payload = [{"code": r.code, "message": r.message} for r in reasons]
        due = await self._pool.fetchval(_FINISH, shop, order_id, self.owner, state, payload, error,
                                        seen_seq, success, next_attempt_at, account)
        return due is not None and due > seen_seq

    async def note(self, shop: str, order_id: int, kind: str, detail: dict[str, Any]) -> None:
        await self._pool.execute(
            "INSERT INTO order_history (shop, order_id, kind, detail) VALUES ($1, $2, $3, $4)",
            shop, order_id, kind, detail)

    async def release(self, shop: str, order_id: int) -> None:
        await self._pool.execute(
            "UPDATE orders SET lease_owner = NULL, lease_until = NULL WHERE shop = $1 AND order_id = $2 "
            "AND lease_owner = $3", shop, order_id, self.owner)

