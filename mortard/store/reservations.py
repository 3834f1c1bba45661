"""Stock holds in Postgres, shared by every daemon of a deployment (`mortard.sync.reservations`
says what they are; `migrations/0003_stock_holds.sql` has the tables, functions and trigger).

Cost per order: one statement before each stock read (it also makes the order's own holds what its
lines take), one for each batch that routes units, one after the order is opened if it held any;
the lease's end releases what is left inside the statement that ends it (a trigger).
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping

import asyncpg

from mortard.sync import reservations as r
from mortard.sync.errors import LeaseLost

__all__ = ["StockHolds", "held_by_others"]

_OPEN_READ = "SELECT * FROM mortard_open_stock_read($1, $2, $3, $4, $5, $6, $7, $8)"

_HOLD = "SELECT * FROM mortard_hold_stock($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"

# Only while this daemon holds the lease: once another daemon has the order, its holds are that
# daemon's to end.
_RELEASE = """
SELECT mortard_release_stock(shop, order_id) FROM orders
WHERE shop = $1 AND order_id = $2 AND lease_owner = $3
"""

_NOT_LEASED = "MH001"

# What other orders' runs hold on the account, per unit (the order's own holds left out).
_HELD_BY_OTHERS = """
SELECT c.item_id, c.location_id, c.held - coalesce(h.qty, 0) AS others
FROM stock_counters c
LEFT JOIN stock_holds h ON h.shop = $2 AND h.order_id = $3 AND h.account = c.account
                        AND h.item_id = c.item_id AND h.location_id = c.location_id
WHERE c.account = $1 AND c.held > 0
"""


async def held_by_others(db: asyncpg.Pool | asyncpg.Connection, account: str, shop: str,
                         order_id: int) -> dict[r.Unit, int]:
    """Units other orders' runs have routed but Heartland may not count yet: a dry run takes them
    from the stock it reads, as the order's own run would (`sync/reservations.py`)."""
    rows = await db.fetch(_HELD_BY_OTHERS, account, shop, order_id)
    return {(x["item_id"], x["location_id"]): int(x["others"]) for x in rows if x["others"] > 0}


class StockHolds:
    """The `Ledger` of a deployment: holds in Postgres, checked and taken atomically."""

    def __init__(self, pool: asyncpg.Pool, owner: str) -> None:
        self._pool = pool
        self._owner = owner             # the daemon's lease owner id
        self._holding: set[r.Owner] = set()   # orders this daemon has held units for in this run

    async def open_read(self, account: str, item_ids: Iterable[int], owner: r.Owner,
                        lines_hold: Mapping[r.Unit, int]) -> r.StockRead:
        shop, order_id = owner    # type: ignore[misc]
        own = sorted(r.wanted(lines_hold).items())
        try:
            rows = await self._pool.fetch(_OPEN_READ, account, shop, order_id, self._owner, list(item_ids),
                                          [u[0] for u, _ in own], [u[1] for u, _ in own], [q for _, q in own])
        except asyncpg.PostgresError as exc:
            if getattr(exc, "sqlstate", None) == _NOT_LEASED:
                raise LeaseLost(f"{shop}/{order_id}") from exc
            raise
        if own:
            self._holding.add(owner)
        return r.open_read(account, {(x["r_item_id"], x["r_location_id"]): (x["r_held"], x["r_released"])
                                     for x in rows})

    def view(self, stock: Mapping[r.Unit, int], read: r.StockRead) -> dict[r.Unit, int]:
        return r.view(stock, read)

    async def reserve(self, account: str, owner: r.Owner, units: Mapping[r.Unit, int],
                      read: tuple[Mapping[r.Unit, int], r.StockRead] | None) -> bool:
        units = r.wanted(units)
        if not units:
            return True
        shop, order_id = owner    # type: ignore[misc]
        keys = sorted(units)
        stock, mark = read if read is not None else ({}, None)
        need = {} if mark is None else r.needs(units, stock, mark)
        try:
            rows = await self._pool.fetch(
                _HOLD, account, shop, order_id, self._owner, [k[0] for k in keys], [k[1] for k in keys],
                [units[k] for k in keys], [need.get(k, 0) for k in keys],
                [stock.get(k, 0) if need.get(k) else None for k in keys],
                [mark.released_before.get(k, 0) if mark is not None else 0 for k in keys])
        except asyncpg.PostgresError as exc:
            if getattr(exc, "sqlstate", None) == _NOT_LEASED:
                raise LeaseLost(f"{shop}/{order_id}") from exc
            raise
        granted = bool(rows) and rows[0]["r_granted"]
        if mark is not None:
            r.refresh(mark, {(x["r_item_id"], x["r_location_id"]): (x["r_held"], x["r_released"]) for x in rows})
        if granted:
            self._holding.add(owner)
        return granted

    async def release(self, owner: r.Owner) -> None:
        if owner not in self._holding:
            return      # holds taken over from a killed daemon end with this run's lease
        self._holding.discard(owner)
        shop, order_id = owner    # type: ignore[misc]
        await self._pool.execute(_RELEASE, shop, order_id, self._owner)

    def ended(self, owner: r.Owner) -> None:
        self._holding.discard(owner)

