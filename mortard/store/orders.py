"""Orders in Postgres: claiming with a lease, the mutation journal, and recording outcomes.

Every state change is one statement (CTEs) so a step costs one round trip, and every write that
belongs to a claimed order checks the lease: a daemon that lost its lease can't overwrite the new
owner's work. A run's journal rows are written a batch at a time, with the previous batch's answers
(`mortard.sync.journal` says why that is safe).
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from mortard.store.db import RawJson
from mortard.sync.actions import Reason
from mortard.sync.errors import LeaseLost
from mortard.sync.journal import AMBIGUOUS, Outcome, Planned
from mortard.sync.ports import JournalEntry

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


_LOAD_COLUMNS = """
shop, order_id, order_name, snapshot, refunds, transactions, sync_state, mirror, mirror_dirty, attempts,
due_seq, first_event_at,
(SELECT count(*) FROM journal j WHERE j.shop = o.shop AND j.order_id = o.order_id
   AND j.status IN ('sent', 'ambiguous')) AS open_journal
"""

# Claim and load in one round trip.
_CLAIM_ONE = f"""
WITH o AS (
    UPDATE orders SET lease_owner = $3, lease_until = now() + make_interval(secs => $4)
    WHERE shop = $1 AND order_id = $2
      AND (lease_until IS NULL OR lease_until < now() OR lease_owner = $3)
      AND (due_seq > done_seq OR next_attempt_at <= now())
    RETURNING *
)
SELECT {_LOAD_COLUMNS} FROM o
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

# Load a claimed order, renewing its lease: the run starts now, however long it waited for a slot.
_LOAD = f"""
WITH o AS (
    UPDATE orders SET lease_until = now() + make_interval(secs => $4)
    WHERE shop = $1 AND order_id = $2 AND lease_owner = $3
    RETURNING *
)
SELECT {_LOAD_COLUMNS} FROM o
"""

# What Heartland answered ($4–$11: a request sent with other ids than journaled replaces it) and
# the documents it made ($12–$17), written by any statement
# that holds the order's lease (CTE `{gate}`). Parameters $1–$3: shop, order id, lease owner.
_ANSWERS = """
answered AS (
    UPDATE journal j SET status = a.status, heartland_id = a.heartland_id, http_status = a.http_status,
                         error = a.error, response = a.response, finished_at = now(),
                         request = coalesce(a.request, j.request), fingerprint = coalesce(a.fingerprint, j.fingerprint)
    FROM unnest($4::bigint[], $5::text[], $6::bigint[], $7::int[], $8::text[], $9::jsonb[], $10::jsonb[], $11::text[])
         AS a(id, status, heartland_id, http_status, error, response, request, fingerprint)
    WHERE j.id = a.id AND j.shop = $1 AND j.order_id = $2 AND EXISTS (SELECT 1 FROM {gate})
), documents AS (
    INSERT INTO heartland_documents (shop, order_id, kind, heartland_id, public_id, location_id, amount, detail)
    SELECT $1, $2, d.kind, d.heartland_id, d.public_id, d.location_id, d.amount, coalesce(d.detail, '{{}}')
    FROM unnest($12::text[], $13::bigint[], $14::text[], $15::bigint[], $16::numeric[], $17::jsonb[])
         AS d(kind, heartland_id, public_id, location_id, amount, detail)
    WHERE EXISTS (SELECT 1 FROM {gate})
    ON CONFLICT (shop, kind, heartland_id) DO NOTHING
)"""

# A batch's journal rows, written only while this daemon holds the lease.
def _insert_rows(actions: str, fingerprints: str, requests: str) -> str:
    """Journal rows from three parallel arrays, in order, if the order's lease is held (CTE `lease`)."""
    return f"""INSERT INTO journal (shop, order_id, action, fingerprint, request)
    SELECT $1, $2, p.action, p.fingerprint, p.request
    FROM unnest({actions}::text[], {fingerprints}::text[], {requests}::jsonb[])
         WITH ORDINALITY AS p(action, fingerprint, request, n)
    WHERE EXISTS (SELECT 1 FROM lease)
    ORDER BY p.n
    RETURNING id"""


_JOURNAL = f"""
WITH lease AS (
    SELECT 1 FROM orders WHERE shop = $1 AND order_id = $2 AND lease_owner = $3 AND lease_until > now()
)
{_insert_rows("$4", "$5", "$6")}
"""

# One step of a run: extend the lease, store the mirror, record answers, and journal the next batch
# ($21–$23) before any of it is sent. `resolve` ($24): Heartland was re-read, so rows left open
# (and not answered here) are settled by the mirror.
_RECORD = f"""
WITH lease AS (
    UPDATE orders SET lease_until = now() + make_interval(secs => $18), mirror = coalesce($19, mirror),
                      heartland_order_id = coalesce($20, heartland_order_id),
                      mirror_dirty = coalesce($25, mirror_dirty), updated_at = now()
    WHERE shop = $1 AND order_id = $2 AND lease_owner = $3
    RETURNING 1
), {_ANSWERS.format(gate="lease")}, resolved AS (
    UPDATE journal SET status = 'resolved', finished_at = coalesce(finished_at, now())
    WHERE shop = $1 AND order_id = $2 AND status IN ('sent', 'ambiguous') AND $24
      AND id <> ALL($4::bigint[]) AND EXISTS (SELECT 1 FROM lease)
), planned AS (
    {_insert_rows("$21", "$22", "$23")}
)
SELECT EXISTS (SELECT 1 FROM lease) AS leased, (SELECT array_agg(id ORDER BY id) FROM planned) AS ids
"""

_FINISH = f"""
WITH old AS (
    SELECT sync_state FROM orders WHERE shop = $1 AND order_id = $2 AND lease_owner = $3 FOR UPDATE
), upd AS (
    UPDATE orders SET
        sync_state = $18,
        state_changed_at = CASE WHEN sync_state <> $18 THEN now() ELSE state_changed_at END,
        pending_reasons = $19, last_error = $20, done_seq = greatest(done_seq, $21),
        attempts = CASE WHEN $22 THEN 0 ELSE attempts + 1 END,
        next_attempt_at = $23, lease_owner = NULL, lease_until = NULL,
        invoiced_at = CASE WHEN $18 = 'invoiced' THEN coalesce(invoiced_at, now()) ELSE invoiced_at END,
        heartland_account = coalesce(heartland_account, $24),
        mirror = coalesce($25, mirror), heartland_order_id = coalesce($26, heartland_order_id),
        mirror_dirty = mirror_dirty OR $27, updated_at = now()
    WHERE shop = $1 AND order_id = $2 AND lease_owner = $3
    RETURNING due_seq
), {_ANSWERS.format(gate="upd")}, h AS (
    INSERT INTO order_history (shop, order_id, kind, from_state, to_state, detail)
    SELECT $1, $2, 'state', old.sync_state, $18, jsonb_build_object('reasons', $19::jsonb, 'error', $20::text)
    FROM old WHERE old.sync_state <> $18 OR $20::text IS NOT NULL
)
SELECT due_seq FROM upd
"""


_JOURNAL_ENTRIES = """
SELECT id, action, request, status, heartland_id FROM journal
WHERE shop = $1 AND order_id = $2 AND action <> ALL('{load_items,load_stock,find_customer}') ORDER BY id
"""


def _answer_args(outcomes: Sequence[Outcome]) -> list[list[Any]]:
    """Parameters $4–$17 of `_ANSWERS`: the outcomes, then the documents, as parallel arrays."""
    docs = [o for o in outcomes if o.document and o.heartland_id is not None]
    return [[o.journal_id for o in outcomes], [o.status for o in outcomes], [o.heartland_id for o in outcomes],
            [o.http_status for o in outcomes], [o.error for o in outcomes], [o.response for o in outcomes],
            [None if o.sent is None else RawJson(o.sent.request) for o in outcomes],
            [None if o.sent is None else o.sent.fingerprint for o in outcomes],
            [o.document["kind"] for o in docs], [o.heartland_id for o in docs],  # type: ignore[index]
            [o.document.get("public_id") for o in docs], [o.document.get("location_id") for o in docs],  # type: ignore[union-attr]
            [o.document.get("amount") for o in docs], [o.document.get("detail", {}) for o in docs]]  # type: ignore[union-attr]


class OrderStore:
    def __init__(self, pool: asyncpg.Pool, owner: str, lease_s: float) -> None:
        self._pool = pool
        self.owner = owner
        self.lease_s = lease_s

    async def claim_one(self, shop: str, order_id: int) -> OrderRow | None:
        """Claim a due order and load it, or None if it isn't due or another daemon holds it."""
        r = await self._pool.fetchrow(_CLAIM_ONE, shop, order_id, self.owner, self.lease_s)
        return None if r is None else OrderRow(**dict(r))

    async def claim_due(self, limit: int) -> list[tuple[str, int]]:
        if limit <= 0:
            return []
        rows = await self._pool.fetch(_CLAIM_DUE, self.owner, self.lease_s, limit)
        return [(r["shop"], r["order_id"]) for r in rows]

    async def load(self, shop: str, order_id: int) -> OrderRow:
        r = await self._pool.fetchrow(_LOAD, shop, order_id, self.owner, self.lease_s)
        if r is None:
            raise LeaseLost(f"{shop}/{order_id}")
        return OrderRow(**dict(r))

    async def journal(self, shop: str, order_id: int, planned: list[Planned]) -> list[int]:
        """Journal `planned` (ids in order) under a lease check; the order's row is not written."""
        rows = await self._pool.fetch(_JOURNAL, shop, order_id, self.owner, [p.action for p in planned],
                                      [p.fingerprint for p in planned], [RawJson(p.request) for p in planned])
        if len(rows) != len(planned):
            raise LeaseLost(f"{shop}/{order_id}")
        return sorted(r["id"] for r in rows)

    async def record(self, shop: str, order_id: int, *, outcomes: list[Outcome], planned: list[Planned],
                     mirror: dict[str, Any] | None, heartland_order_id: int | None,
                     mirror_dirty: bool | None = None, resolve: bool = False) -> list[int]:
        """Record answers and the mirror, and journal `planned` (ids in order): one round trip."""
        row = await self._pool.fetchrow(
            _RECORD, shop, order_id, self.owner, *_answer_args(outcomes), self.lease_s, mirror,
            heartland_order_id, [p.action for p in planned], [p.fingerprint for p in planned],
            [RawJson(p.request) for p in planned], resolve, mirror_dirty)
        if not row["leased"]:
            raise LeaseLost(f"{shop}/{order_id}")
        return list(row["ids"] or ())

    async def finish(self, shop: str, order_id: int, *, state: str, reasons: tuple[Reason, ...] = (),
                     error: str | None = None, seen_seq: int, success: bool,
                     next_attempt_at: datetime | None = None, account: str | None = None,
                     outcomes: Sequence[Outcome] = (), mirror: dict[str, Any] | None = None,
                     heartland_order_id: int | None = None) -> bool:
        """Record the outcome (with the run's last answers and mirror) and release the lease; True if
        newer events arrived meanwhile."""
        payload = [{"code": r.code, "message": r.message} for r in reasons]
        ambiguous = any(o.status == AMBIGUOUS for o in outcomes)
        due = await self._pool.fetchval(_FINISH, shop, order_id, self.owner, *_answer_args(outcomes), state,
                                        payload, error, seen_seq, success, next_attempt_at, account, mirror,
                                        heartland_order_id, ambiguous)
        return due is not None and due > seen_seq

    async def note(self, shop: str, order_id: int, kind: str, detail: dict[str, Any]) -> None:
        await self._pool.execute(
            "INSERT INTO order_history (shop, order_id, kind, detail) VALUES ($1, $2, $3, $4)",
            shop, order_id, kind, detail)

    async def journal_entries(self, shop: str, order_id: int) -> list[JournalEntry]:
        """The order's journal, oldest first, as recovery reads it (sync/recovery.py)."""
        rows = await self._pool.fetch(_JOURNAL_ENTRIES, shop, order_id)
        return [JournalEntry(r["id"], r["action"], r["request"], r["status"], r["heartland_id"]) for r in rows]

    async def release(self, shop: str, order_id: int) -> None:
        await self._pool.execute(
            "UPDATE orders SET lease_owner = NULL, lease_until = NULL WHERE shop = $1 AND order_id = $2 "
            "AND lease_owner = $3", shop, order_id, self.owner)

