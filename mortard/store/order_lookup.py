"""Finding orders for a person: one order by its Shopify id or name, and orders listed by state.

Read-only; the daemon's own reads and writes of an order are `store.orders`.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from mortard.store.db import Queryable
from mortard.store.resolutions import RESOLVED
from mortard.store.order_filters import reason_is

__all__ = ["ListedOrder", "OrderRecord", "by_id", "by_names", "list_orders", "shop_has_orders"]

_RECORD_COLUMNS = """
shop, order_id, order_name, snapshot, snapshot_updated_at, refunds, transactions, sync_state, state_changed_at,
attempts, pending_reasons, last_error, next_attempt_at, due_seq, done_seq, lease_owner, lease_until,
heartland_account, heartland_order_id, mirror, mirror_dirty, first_event_at, invoiced_at
"""

_BY_ID = f"SELECT {_RECORD_COLUMNS} FROM orders WHERE shop = $1 AND order_id = $2"

_BY_NAMES = f"SELECT {_RECORD_COLUMNS} FROM orders WHERE shop = $1 AND order_name = ANY($2::text[]) ORDER BY order_id"

_SHOP_HAS_ORDERS = "SELECT EXISTS (SELECT 1 FROM orders WHERE shop = $1)"

# Newest state change first; either filter may be NULL (all states, all shops). Resolved orders
# (`store.resolutions`) only when $4.
_LIST = f"""
SELECT o.shop, o.order_name, o.order_id, o.sync_state, o.state_changed_at, o.attempts, o.pending_reasons,
       o.last_error, o.next_attempt_at, o.heartland_order_id, {RESOLVED} AS resolved
FROM orders o
WHERE ($1::text IS NULL OR o.sync_state = $1) AND ($2::text IS NULL OR o.shop = $2) AND ($4 OR NOT {RESOLVED})
  AND {reason_is('$5')}
ORDER BY o.state_changed_at DESC, o.shop, o.order_id
LIMIT $3
"""


@dataclass(frozen=True, slots=True)
class OrderRecord:
    """An order's row as a person looks at it (and as the dry run plans it: `operator/dryrun.py`)."""
    shop: str
    order_id: int
    order_name: str | None
    snapshot: dict[str, Any] | None
    snapshot_updated_at: datetime | None
    refunds: dict[str, Any]
    transactions: dict[str, Any]
    sync_state: str
    state_changed_at: datetime
    attempts: int
    pending_reasons: list[Any]          # [{code, message}], as the machine stored them
    last_error: str | None
    next_attempt_at: datetime | None
    due_seq: int
    done_seq: int
    lease_owner: str | None
    lease_until: datetime | None
    heartland_account: str | None
    heartland_order_id: int | None
    mirror: dict[str, Any]
    mirror_dirty: bool
    first_event_at: datetime
    invoiced_at: datetime | None


@dataclass(frozen=True, slots=True)
class ListedOrder:
    shop: str
    order_name: str | None
    order_id: int
    sync_state: str
    state_changed_at: datetime
    attempts: int
    pending_reasons: list[Any]
    last_error: str | None
    next_attempt_at: datetime | None
    heartland_order_id: int | None
    resolved: bool                      # a person marked it handled (`store.resolutions`)


async def by_id(db: Queryable, shop: str, order_id: int) -> OrderRecord | None:
    r = await db.fetchrow(_BY_ID, shop, order_id)
    return None if r is None else OrderRecord(**dict(r))


async def by_names(db: Queryable, shop: str, names: Sequence[str]) -> list[OrderRecord]:
    """The shop's orders named any of `names` (Shopify names need not be unique), by id."""
    return [OrderRecord(**dict(r)) for r in await db.fetch(_BY_NAMES, shop, list(names))]


async def shop_has_orders(db: Queryable, shop: str) -> bool:
    return bool(await db.fetchval(_SHOP_HAS_ORDERS, shop))


async def list_orders(db: Queryable, *, state: str | None = None, shop: str | None = None,
                      limit: int, include_resolved: bool = False, reason: str | None = None) -> list[ListedOrder]:
    """Orders in `state` of `shop` with a reason of code `reason` (None: any), the newest state change
    first; resolved ones only with `include_resolved`."""
    return [ListedOrder(**dict(r)) for r in await db.fetch(_LIST, state, shop, limit, include_resolved, reason)]
