"""Counts over mortard's tables: orders by state (the daemon's gauges, `mortard orders list`).

Read-only, and cheap enough to run every few seconds.
"""
from __future__ import annotations

from mortard.store.db import Queryable

__all__ = ["orders_by_state"]

_ORDERS_BY_STATE = """
SELECT sync_state, count(*) AS n FROM orders WHERE ($1::text IS NULL OR shop = $1)
GROUP BY sync_state ORDER BY sync_state
"""


async def orders_by_state(db: Queryable, shop: str | None = None) -> dict[str, int]:
    """state -> how many orders (of `shop`, or of every shop) are in it, by state name; states no
    order is in are left out."""
    return {r["sync_state"]: int(r["n"]) for r in await db.fetch(_ORDERS_BY_STATE, shop)}
