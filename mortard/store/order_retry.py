"""The operator's retry (`mortard orders retry`): an order made due now, in one statement.

Attempts start again from 0; a dead order goes back to `failed` (a state change in its history),
any other keeps its state (a note). A daemon holding the order's lease sees the new `due_seq` when
its run finishes (`store.orders.OrderStore.finish`) and runs the order again.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from mortard.store.db import Queryable
from mortard.store.resolutions import RESOLVED
from mortard.store.order_filters import reason_is

__all__ = ["RetryCandidate", "RetryOutcome", "retry_candidates", "retry_now"]

_RETRY = """
WITH old AS (
    SELECT sync_state FROM orders WHERE shop = $1 AND order_id = $2 FOR UPDATE
), upd AS (
    UPDATE orders SET
        next_attempt_at = now(), due_seq = due_seq + 1, attempts = 0,
        sync_state = CASE WHEN sync_state = 'dead' THEN 'failed' ELSE sync_state END,
        state_changed_at = CASE WHEN sync_state = 'dead' THEN now() ELSE state_changed_at END,
        updated_at = now()
    WHERE shop = $1 AND order_id = $2
    RETURNING sync_state, due_seq, done_seq, next_attempt_at, lease_owner, lease_until, lease_until > now() AS leased
), h AS (
    INSERT INTO order_history (shop, order_id, kind, from_state, to_state, detail)
    SELECT $1, $2, CASE WHEN old.sync_state = 'dead' THEN 'state' ELSE 'note' END, old.sync_state, upd.sync_state,
           $3::jsonb
    FROM old, upd
)
SELECT old.sync_state AS from_state, upd.* FROM old, upd
"""


@dataclass(frozen=True, slots=True)
class RetryOutcome:
    from_state: str
    to_state: str
    due_seq: int
    done_seq: int
    next_attempt_at: datetime
    lease_owner: str | None
    lease_until: datetime | None
    leased: bool                 # a daemon holds a live lease on it now


#: The history note's action of an operator's retry (shell or console).
RETRY_ACTION = "operator_retry"

async def retry_now(db: Queryable, shop: str, order_id: int, by: str | None = None) -> RetryOutcome | None:
    """Make the order due now; None if there is no such order (deleted meanwhile). `by`: who asked
    (the console's user), kept in the history note."""
    detail = {"action": RETRY_ACTION, **({"by": by} if by else {})}
    r = await db.fetchrow(_RETRY, shop, order_id, detail)
    if r is None:
        return None
    return RetryOutcome(r["from_state"], r["sync_state"], r["due_seq"], r["done_seq"], r["next_attempt_at"],
                        r["lease_owner"], r["lease_until"], bool(r["leased"]))


# The orders a bulk retry (`mortard orders retry --state ...`) takes, the longest in their state
# first; every filter but the state may be NULL. `matched` counts them all, past the limit.
_CANDIDATES = f"""
SELECT o.shop, o.order_id, o.order_name, o.sync_state, o.state_changed_at, o.attempts, o.pending_reasons,
       o.last_error, {RESOLVED} AS resolved, count(*) OVER () AS matched
FROM orders o
WHERE o.sync_state = $1
  AND {reason_is('$2')}
  AND ($3::timestamptz IS NULL OR o.state_changed_at >= $3)
  AND ($4::text IS NULL OR o.shop = $4)
  AND ($5 OR NOT {RESOLVED})
ORDER BY o.state_changed_at, o.shop, o.order_id
LIMIT $6
"""


@dataclass(frozen=True, slots=True)
class RetryCandidate:
    shop: str
    order_id: int
    order_name: str | None
    sync_state: str
    state_changed_at: datetime
    attempts: int
    pending_reasons: list[Any]
    last_error: str | None
    resolved: bool


async def retry_candidates(db: Queryable, *, state: str, reason: str | None = None, since: datetime | None = None,
                           shop: str | None = None, include_resolved: bool = False,
                           limit: int) -> tuple[list[RetryCandidate], int]:
    """The orders in `state` (with reason code `reason`, in it since `since`, of `shop`; resolved
    ones only with `include_resolved`), the longest in it first, up to `limit`; and how many match
    in all."""
    rows = await db.fetch(_CANDIDATES, state, reason, since, shop, include_resolved, limit)
    matched = int(rows[0]["matched"]) if rows else 0
    return [RetryCandidate(**{k: v for k, v in dict(r).items() if k != "matched"}) for r in rows], matched
