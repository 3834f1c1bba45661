"""The operator's retry (`mortard orders retry`): an order made due now, in one statement.

Attempts start again from 0; a dead order goes back to `failed` (a state change in its history),
any other keeps its state (a note). A daemon holding the order's lease sees the new `due_seq` when
its run finishes (`store.orders.OrderStore.finish`) and runs the order again.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from mortard.store.db import Queryable

__all__ = ["RetryOutcome", "retry_now"]

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


async def retry_now(db: Queryable, shop: str, order_id: int, by: str | None = None) -> RetryOutcome | None:
    """Make the order due now; None if there is no such order (deleted meanwhile). `by`: who asked
    (the console's user), kept in the history note."""
    detail = {"action": "operator_retry", **({"by": by} if by else {})}
    r = await db.fetchrow(_RETRY, shop, order_id, detail)
    if r is None:
        return None
    return RetryOutcome(r["from_state"], r["sync_state"], r["due_seq"], r["done_seq"], r["next_attempt_at"],
                        r["lease_owner"], r["lease_until"], bool(r["leased"]))
