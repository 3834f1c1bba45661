"""An operator's resolve: an order a person marked handled, with a note (the console's button,
`mortard orders resolve`).

A resolve is a note in the order's history (`kind = 'note'`, `detail.action = RESOLVE_ACTION`) that
remembers the order's `due_seq`. It holds while the order's state and `due_seq` stay as they were:
something new happening to the order (an event, a retry, a state change) ends it, and the order
comes back into the lists, the queues and the counts by itself. No column is needed.

While it holds, the order is left out of `mortard orders list` and the console's queues, and the
counts by state (`store.stats.orders_by_state`, the daemon's `mortard_orders` gauge) count it as
`resolved`, so a resolved dead order stops firing `MortardOrdersDead`.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from mortard.store.db import Queryable

__all__ = ["MAX_NOTE", "RESOLVABLE_STATES", "RESOLVED", "RESOLVE_ACTION", "Resolution", "resolution", "resolve",
           "STATE_OR_RESOLVED"]

RESOLVE_ACTION = "operator_resolve"

#: The longest note a resolve keeps (the console's form and the command refuse longer ones).
MAX_NOTE = 2000

#: The states a person may resolve an order in: those waiting for a person or for retries.
RESOLVABLE_STATES: tuple[str, ...] = ("pending", "dead", "waiting_stock", "failed")

# SQL: true for the order `o` while a resolve note holds for it (written since the state last
# changed, with the order's due_seq unchanged since).
RESOLVED = f"""
EXISTS (SELECT 1 FROM order_history h
        WHERE h.shop = o.shop AND h.order_id = o.order_id AND h.kind = 'note'
          AND h.detail->>'action' = '{RESOLVE_ACTION}' AND h.at >= o.state_changed_at
          AND (h.detail->>'due_seq')::bigint = o.due_seq)
"""

_STATES_SQL = ", ".join(f"'{s}'" for s in RESOLVABLE_STATES)

# SQL: the order's state as the counts show it, `resolved` for a resolved one.
STATE_OR_RESOLVED = f"""
CASE WHEN o.sync_state IN ({_STATES_SQL}) AND {RESOLVED} THEN 'resolved' ELSE o.sync_state END
"""

# $5: the states the order must be in (NULL: any).
_RESOLVE = f"""
INSERT INTO order_history (shop, order_id, kind, from_state, to_state, detail)
SELECT shop, order_id, 'note', sync_state, sync_state,
       jsonb_build_object('action', '{RESOLVE_ACTION}', 'by', $3::text, 'note', $4::text, 'due_seq', due_seq)
FROM orders WHERE shop = $1 AND order_id = $2 AND ($5::text[] IS NULL OR sync_state = ANY($5::text[]))
RETURNING at
"""

_RESOLUTION = f"""
SELECT h.detail->>'by' AS by, h.detail->>'note' AS note, h.at
FROM orders o JOIN order_history h ON h.shop = o.shop AND h.order_id = o.order_id
WHERE o.shop = $1 AND o.order_id = $2 AND h.kind = 'note' AND h.detail->>'action' = '{RESOLVE_ACTION}'
  AND h.at >= o.state_changed_at AND (h.detail->>'due_seq')::bigint = o.due_seq
ORDER BY h.id DESC LIMIT 1
"""


@dataclass(frozen=True, slots=True)
class Resolution:
    by: str
    note: str
    at: datetime


async def resolve(db: Queryable, shop: str, order_id: int, by: str, note: str, *,
                  states: Sequence[str] | None = None) -> datetime | None:
    """Mark the order handled by `by`, with `note`, in its history; None if there is no such order
    (or, given `states`, it is in none of them)."""
    return await db.fetchval(_RESOLVE, shop, order_id, by, note, list(states) if states is not None else None)


async def resolution(db: Queryable, shop: str, order_id: int) -> Resolution | None:
    """The resolve note that still holds for the order, if any."""
    r = await db.fetchrow(_RESOLUTION, shop, order_id)
    return None if r is None else Resolution(r["by"], r["note"], r["at"])
