"""Several daemons in one consumer group against one Postgres and one Heartland account: the stock
holds are shared, so together they never route more units than Heartland has."""
from __future__ import annotations

import asyncio
from collections import Counter
from decimal import Decimal

import pytest

from mortard.app import Daemon
from mortard.testing.shopify import LineSpec, OrderSpec, order_payload, webhook
from stack import SHOP, Stack

SCARCE = {"S01": 20, "S02": 15, "S03": 15}      # 50 units for 200 orders of one unit each


async def start_daemons(stack: Stack, n: int) -> list[Daemon]:
    """n daemons in one group, each with its share of the partitions before anything is produced."""
    daemons: list[Daemon] = []
    for _ in range(n):
        d = Daemon(stack.config)
        stack.extra.append(d)
        await d.start()
        daemons.append(d)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 60
    while not all(d.consumer.assignment for d in daemons) or \
            sum(len(d.consumer.assignment) for d in daemons) != 4:
        assert loop.time() < deadline, [sorted(d.consumer.assignment) for d in daemons]
        await asyncio.sleep(0.05)
    return daemons


async def scarce_race(stack: Stack, n_orders: int = 200) -> list:
    """Stock of 50 units over three stores, and 200 orders of one unit each to race for it."""
    await stack.set_stock([{"item": "SKU-0050", "location": loc, "on_hand": qty} for loc, qty in SCARCE.items()])
    return [webhook("orders/create", SHOP, order_payload(
        OrderSpec(2000 + i, 2000 + i, [LineSpec("SKU-0050", 1, Decimal("10.00"))]))) for i in range(n_orders)]


async def outcome(stack: Stack) -> dict:
    """What Heartland and Postgres show once the race is over."""
    state = await stack.state()
    stock = await stack.stock()
    rows = await stack.pool.fetch("SELECT sync_state FROM orders")
    return {
        "states": dict(Counter(r["sync_state"] for r in rows)),
        "invoices": len(state["invoices"]),
        "draft_invoices": sum(1 for i in state["invoices"] if i["status"] != "complete"),
        "available": {loc: stock[("SKU-0050", loc)]["qty_available"] for loc in SCARCE},
        "oversold": sum(max(0, -stock[("SKU-0050", loc)]["qty_available"]) for loc in SCARCE),
        "orders": len(state["orders"]), "public_ids": len({o["public_id"] for o in state["orders"]}),
    }


@pytest.mark.parametrize("daemons", [2, 3])
async def test_daemons_racing_for_scarce_stock_never_oversell(make, daemons):
    stack = await make(daemon={"max_orders_in_flight": 64})
    hooks = await scarce_race(stack)
    try:
        started = await start_daemons(stack, daemons)
        await stack.send(hooks)
        await stack.wait_settled(200, timeout=120)
        runs = [d.machine.stats.runs for d in started]
    finally:
        for d in stack.extra:
            await d.stop()
        stack.extra.clear()
    got = await outcome(stack)
    print(f"\n[{daemons} daemons] runs per daemon {runs}: {got['states']}, {got['invoices']} invoices "
          f"({got['draft_invoices']} drafts), qty_available {got['available']}, {got['oversold']} units oversold")
    assert all(r > 0 for r in runs), runs           # every daemon worked orders: the race really was shared
    assert got["states"] == {"invoiced": 50, "waiting_stock": 150}, got
    assert got["oversold"] == 0 and all(v == 0 for v in got["available"].values()), got
    assert got["invoices"] == 50 and got["draft_invoices"] == 0, got
    assert got["orders"] == got["public_ids"] == 200
    # Every hold ended with its order's run.
    assert await stack.pool.fetchval("SELECT count(*) FROM stock_holds") == 0
    assert await stack.pool.fetchval("SELECT coalesce(sum(held), 0) FROM stock_counters") == 0
