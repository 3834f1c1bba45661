"""The watch over waiting orders, end to end: Kafka → sync → sandbox (HTTP) → Postgres, with stock
arriving and staff working in Heartland through the sandbox while the daemon(s) run."""
from __future__ import annotations

import asyncio
import time
from decimal import Decimal

import pytest

from mortard.app import Daemon
from mortard.testing.shopify import LineSpec, OrderSpec, order_payload, webhook
from stack import SHOP, Stack

INTERVAL = 1.5
WATCH = {"watch_interval_s": INTERVAL, "watch_share": 0.1}
SKU = "SKU-0050"


async def waiting_orders(stack: Stack, n: int, first: int = 3000) -> list[int]:
    """n orders of one unit of SKU, with no stock anywhere: each ends waiting for stock."""
    await stack.set_stock([{"item": SKU, "location": loc, "on_hand": 0} for loc in ("S01", "S02", "S03")])
    ids = [first + i for i in range(n)]
    await stack.send([webhook("orders/create", SHOP, order_payload(
        OrderSpec(i, i, [LineSpec(SKU, 1, Decimal("10.00"))]))) for i in ids])
    rows = await stack.wait_settled(n, timeout=60)
    assert {r["sync_state"] for r in rows} == {"waiting_stock"}, [dict(r) for r in rows]
    return ids


async def oldest(stack: Stack, ids: list[int]) -> list[int]:
    rows = await stack.pool.fetch("SELECT order_id FROM orders WHERE order_id = ANY($1::bigint[]) "
                                  "ORDER BY first_event_at, order_id", ids)
    return [r["order_id"] for r in rows]


async def wait_invoiced(stack: Stack, n: int, timeout: float) -> float:
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        got = await stack.pool.fetchval("SELECT count(*) FROM orders WHERE sync_state = 'invoiced' "
                                        "AND due_seq = done_seq AND lease_owner IS NULL")
        if got >= n:
            return time.monotonic() - started
        await asyncio.sleep(0.05)
    rows = await stack.pool.fetch("SELECT order_id, sync_state, pending_reasons FROM orders ORDER BY order_id")
    raise AssertionError(f"fewer than {n} invoiced: {[dict(r) for r in rows]}")


async def start_daemons(stack: Stack, n: int) -> list[Daemon]:
    out = []
    for _ in range(n):
        d = Daemon(stack.config)
        stack.extra.append(d)
        await d.start()
        out.append(d)
    return out


@pytest.mark.parametrize("daemons", [1, 2])
async def test_stock_arriving_finishes_the_oldest_waiting_orders_it_covers_within_an_interval(make, daemons):
    stack = await make(daemon=WATCH)
    started = await start_daemons(stack, daemons)
    try:
        ids = await waiting_orders(stack, 6)
        age_order = await oldest(stack, ids)
        await asyncio.sleep(INTERVAL)   # a pass or two with nothing to do
        # Staff receive 3 units at two stores (the sandbox's control API stands in for the receiving).
        await stack.set_stock([{"item": SKU, "location": "S01", "on_hand": 2},
                               {"item": SKU, "location": "S02", "on_hand": 1}])
        took = await wait_invoiced(stack, 3, timeout=INTERVAL + 15)
        await asyncio.sleep(INTERVAL * 2)      # later passes must not hand out what isn't there
        rows = {r["order_id"]: r for r in await stack.pool.fetch("SELECT * FROM orders")}
        invoiced = sorted(i for i, r in rows.items() if r["sync_state"] == "invoiced")
        assert invoiced == sorted(age_order[:3]), (invoiced, age_order)
        assert all(rows[i]["sync_state"] == "waiting_stock" for i in age_order[3:])
        stock = await stack.stock()
        assert stock[(SKU, "S01")]["qty_on_hand"] == 0 and stock[(SKU, "S02")]["qty_on_hand"] == 0
        assert all(r["qty_on_hand"] >= 0 and r["qty_committed"] == 0 for k, r in stock.items() if k[0] == SKU)
        state = await stack.state()
        assert len([i for i in state["invoices"] if i["status"] == "complete"]) == 3
        notes = await stack.pool.fetch("SELECT order_id FROM order_history WHERE kind = 'note' "
                                       "AND detail->>'why' = 'stock_arrived'")
        assert {n["order_id"] for n in notes} == set(age_order[:3])
        # One interval from the stock's arrival to the invoices, plus the runs themselves.
        assert took < INTERVAL + 5, took
        passes = [d.watch.last.get("acme") for d in started if d.watch is not None]
        assert any(p is not None for p in passes)
        assert all(p.calls <= p.budget for p in passes if p is not None)
    finally:
        for d in started:
            await d.stop()
        stack.extra.clear()


async def test_off_the_setting_leaves_waiting_orders_to_staff(make):
    stack = await make(daemon=WATCH, shop_settings={"finish_when_stock_arrives": False})
    await stack.start_daemon()
    await waiting_orders(stack, 2)
    await stack.set_stock([{"item": SKU, "location": "S01", "on_hand": 5}])
    await asyncio.sleep(INTERVAL * 2.5)
    states = {r["sync_state"] for r in await stack.pool.fetch("SELECT sync_state FROM orders")}
    assert states == {"waiting_stock"}
