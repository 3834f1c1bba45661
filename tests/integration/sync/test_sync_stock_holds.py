"""The stock holds in Postgres (`mortard.store.reservations`): the check and the hold are one atomic
step whichever daemon asks, and a hold ends with its order's lease, not with its daemon."""
from __future__ import annotations

import asyncio

import asyncpg
import pytest

from mortard.store.orders import OrderStore
from mortard.store.reservations import StockHolds
from mortard.sync.errors import LeaseLost

SHOP = "acme-store.myshopify.com"
ACC = "acme"
MUG, EAST, WEST = 501, 10, 11
READER = (SHOP, 999)     # reads for an order that holds nothing and routed nothing


async def new_order(pool: asyncpg.Pool, order_id: int) -> None:
    await pool.execute("INSERT INTO orders (shop, order_id, order_name, due_seq) VALUES ($1, $2, $3, 1)",
                       SHOP, order_id, f"#{order_id}")


async def claimed(pool: asyncpg.Pool, owner: str, *order_ids: int) -> OrderStore:
    store = OrderStore(pool, owner, 30)
    for order_id in order_ids:
        await new_order(pool, order_id)
        assert await store.claim_one(SHOP, order_id) is not None
    return store


async def totals(pool: asyncpg.Pool) -> dict[tuple[int, int], tuple[int, int]]:
    rows = await pool.fetch("SELECT item_id, location_id, held, released FROM stock_counters")
    return {(r["item_id"], r["location_id"]): (r["held"], r["released"]) for r in rows}


async def test_many_daemons_holding_the_last_units_at_once_get_exactly_what_heartland_has(pool):
    # 40 orders spread over 4 daemons all read 5 units at EAST before any routes, then all hold at once.
    daemons = [StockHolds(pool, f"d{n}") for n in range(4)]
    for n in range(4):
        await claimed(pool, f"d{n}", *range(100 + 10 * n, 110 + 10 * n))
    heartland = {(MUG, EAST): 5}
    reads = [await daemons[i // 10].open_read(ACC, [MUG], READER, {}) for i in range(40)]
    results = await asyncio.gather(*(daemons[i // 10].reserve(ACC, (SHOP, 100 + i), {(MUG, EAST): 1},
                                                              (heartland, reads[i])) for i in range(40)))
    assert sum(results) == 5
    assert await totals(pool) == {(MUG, EAST): (5, 0)}
    # Each refused order now sees what is left: nothing.
    assert all(daemons[i // 10].view(heartland, reads[i]) == {(MUG, EAST): 0} for i in range(40) if not results[i])


async def test_a_hold_covers_several_units_all_or_nothing(pool):
    holds = StockHolds(pool, "d1")
    await claimed(pool, "d1", 1, 2)
    heartland = {(MUG, EAST): 1, (MUG, WEST): 1}
    a, b = await holds.open_read(ACC, [MUG], READER, {}), await holds.open_read(ACC, [MUG], READER, {})
    assert await holds.reserve(ACC, (SHOP, 1), {(MUG, WEST): 1}, (heartland, a))
    assert not await holds.reserve(ACC, (SHOP, 2), {(MUG, EAST): 1, (MUG, WEST): 1}, (heartland, b))
    assert await totals(pool) == {(MUG, EAST): (0, 0), (MUG, WEST): (1, 0)}
    assert holds.view(heartland, b) == {(MUG, EAST): 1, (MUG, WEST): 0}


async def test_a_release_after_a_read_began_still_counts_for_that_read(pool):
    holds = StockHolds(pool, "d1")
    await claimed(pool, "d1", 1, 2)
    b = await holds.open_read(ACC, [MUG], READER, {})   # order 2's read begins
    assert await holds.reserve(ACC, (SHOP, 1), {(MUG, EAST): 1}, None)
    await holds.release((SHOP, 1))             # order 1 opened: Heartland commits its unit now
    stale = {(MUG, EAST): 1}                   # but order 2's answer predates that
    assert holds.view(stale, b) == {(MUG, EAST): 1}     # nor did order 2 see the hold
    assert not await holds.reserve(ACC, (SHOP, 2), {(MUG, EAST): 1}, (stale, b))
    assert holds.view(stale, b) == {(MUG, EAST): 0}
    fresh = await holds.open_read(ACC, [MUG], READER, {})
    assert holds.view({(MUG, EAST): 0}, fresh) == {(MUG, EAST): 0}
    assert await totals(pool) == {(MUG, EAST): (0, 1)}


async def test_only_the_lease_holder_can_hold_stock_for_an_order(pool):
    await claimed(pool, "d1", 1)
    with pytest.raises(LeaseLost):
        await StockHolds(pool, "d2").reserve(ACC, (SHOP, 1), {(MUG, EAST): 1}, None)
    assert await pool.fetchval("SELECT count(*) FROM stock_holds") == 0
    # A lease that ran out but that no one took is still d1's (its next journal write renews it).
    await pool.execute("UPDATE orders SET lease_until = now() - interval '1 second' WHERE order_id = 1")
    assert await StockHolds(pool, "d1").reserve(ACC, (SHOP, 1), {(MUG, EAST): 1}, None)
    assert await totals(pool) == {(MUG, EAST): (1, 0)}


async def test_the_end_of_the_lease_ends_the_holds_in_the_same_statement(pool):
    store = await claimed(pool, "d1", 1)
    holds = StockHolds(pool, "d1")
    assert await holds.reserve(ACC, (SHOP, 1), {(MUG, EAST): 2, (MUG, WEST): 1}, None)
    await store.finish(SHOP, 1, state="waiting_stock", seen_seq=1, success=True)
    assert await pool.fetchval("SELECT count(*) FROM stock_holds") == 0
    assert await totals(pool) == {(MUG, EAST): (0, 2), (MUG, WEST): (0, 1)}
    # A lease given back without finishing (a run that crashed) ends them too.
    await pool.execute("UPDATE orders SET due_seq = 2 WHERE order_id = 1")
    assert await store.claim_one(SHOP, 1) is not None
    assert await holds.reserve(ACC, (SHOP, 1), {(MUG, EAST): 1}, None)
    await store.release(SHOP, 1)
    assert await totals(pool) == {(MUG, EAST): (0, 3), (MUG, WEST): (0, 1)}


async def test_a_killed_daemons_holds_pass_to_the_daemon_that_takes_its_order_over(pool):
    await claimed(pool, "dead", 1)
    dead = StockHolds(pool, "dead")
    assert await dead.reserve(ACC, (SHOP, 1), {(MUG, EAST): 1}, None)
    await pool.execute("UPDATE orders SET lease_until = now() - interval '1 second' WHERE order_id = 1")
    heir = OrderStore(pool, "heir", 30)
    assert await heir.claim_due(10) == [(SHOP, 1)]
    # Taken over, not ended: the dead daemon's routed unit is still held for the order.
    assert await totals(pool) == {(MUG, EAST): (1, 0)}
    heir_holds = StockHolds(pool, "heir")
    mark = await heir_holds.open_read(ACC, [MUG], READER, {})
    assert heir_holds.view({(MUG, EAST): 1}, mark) == {(MUG, EAST): 0}   # other orders can't have it
    # The dead daemon, were it only slow, can no longer release or add to the order's holds.
    await dead.release((SHOP, 1))
    assert await totals(pool) == {(MUG, EAST): (1, 0)}
    await heir.finish(SHOP, 1, state="invoiced", seen_seq=1, success=True)
    assert await totals(pool) == {(MUG, EAST): (0, 1)}
    assert await pool.fetchval("SELECT count(*) FROM stock_holds") == 0


async def test_a_taken_over_order_holds_what_its_lines_take_not_what_its_dead_daemon_held(pool):
    # The dead daemon held 2 units for order 1 and died before routing them (no line in Heartland);
    # it had also routed a unit of order 1 to WEST, which Heartland doesn't commit (pending order).
    await claimed(pool, "dead", 1)
    assert await StockHolds(pool, "dead").reserve(ACC, (SHOP, 1), {(MUG, EAST): 2, (MUG, WEST): 1}, None)
    await pool.execute("UPDATE orders SET lease_until = now() - interval '1 second' WHERE order_id = 1")
    heir = OrderStore(pool, "heir", 30)
    assert await heir.claim_due(10) == [(SHOP, 1)]
    holds = StockHolds(pool, "heir")
    mark = await holds.open_read(ACC, [MUG], (SHOP, 1), {(MUG, WEST): 1})
    assert await totals(pool) == {(MUG, EAST): (0, 2), (MUG, WEST): (1, 0)}
    heartland = {(MUG, EAST): 2, (MUG, WEST): 1}
    assert holds.view(heartland, mark) == {(MUG, EAST): 2, (MUG, WEST): 0}
    assert await holds.reserve(ACC, (SHOP, 1), {(MUG, EAST): 2}, (heartland, mark))
    await holds.release((SHOP, 1))      # opened
    assert await totals(pool) == {(MUG, EAST): (0, 4), (MUG, WEST): (0, 1)}
    with pytest.raises(LeaseLost):      # the dead daemon's last word, were it only slow
        await StockHolds(pool, "dead").open_read(ACC, [MUG], (SHOP, 1), {(MUG, EAST): 1})


async def test_units_sent_to_a_backorder_location_are_held_without_a_check(pool):
    holds = StockHolds(pool, "d1")
    await claimed(pool, "d1", 1)
    heartland = {(MUG, EAST): 1}      # no row for WEST: the plan sent 3 units there as a backorder
    mark = await holds.open_read(ACC, [MUG], (SHOP, 1), {})
    assert await holds.reserve(ACC, (SHOP, 1), {(MUG, EAST): 1, (MUG, WEST): 3}, (heartland, mark))
    assert await totals(pool) == {(MUG, EAST): (1, 0), (MUG, WEST): (3, 0)}
