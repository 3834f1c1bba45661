"""A Heartland account whose token is refused, through the real path (Kafka → daemon → sandbox over
HTTP → Postgres): /readyz fails naming the account, the gauge says so, the verdict is stored for the
console, its orders wait (failed, heartland_token_refused, not dead) while the other account's sync;
once the sandbox accepts the token again they are invoiced without anyone retrying them."""
from __future__ import annotations

import argparse
import asyncio
import json
from decimal import Decimal

from mortard.operator.orders import orders_list
from mortard.testing.shopify import LineSpec, OrderSpec, order_payload, webhook
from stack import SHOP, SHOP2, TOKENS


async def readyz(stack) -> tuple[int, dict]:
    async with stack.http.get(f"{stack.daemon.ops.url}/readyz") as r:
        return r.status, await r.json()


async def gauge(stack, account: str) -> float | None:
    async with stack.http.get(f"{stack.daemon.ops.url}/metrics") as r:
        text = await r.text()
    for line in text.splitlines():
        if line.startswith(f'mortard_heartland_account_refused{{account="{account}"}}'):
            return float(line.rsplit(" ", 1)[1])
    return None


async def eventually(probe, timeout: float = 30.0):
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        got = await probe()
        if got or asyncio.get_running_loop().time() > deadline:
            return got
        await asyncio.sleep(0.1)


def spec(order_id: int) -> OrderSpec:
    return OrderSpec(order_id, order_id, [LineSpec("SKU-0002", 1, Decimal("116.00"))], shipping=Decimal("7.50"))


async def test_a_refused_token_fails_readiness_parks_its_orders_and_they_sync_once_it_works(make, capsys):
    stack = await make(daemon={"heartland_token_check_s": 0.5})
    # The sandbox now accepts another token for acme: the daemon's is wrong (as if revoked).
    await stack.control("PUT", "accounts/acme/token", {"token": "rotated-elsewhere"})
    await stack.start_daemon()

    async def not_ready():
        status, body = await readyz(stack)
        return body if status == 503 and "heartland_token:acme" in body["failed"] else None
    body = await eventually(not_ready)
    assert body, "readiness never failed for acme"
    assert body["failed"] == ["heartland_token:acme"] and body["checks"]["heartland_token:globex"] is True
    assert await gauge(stack, "acme") == 1.0 and await gauge(stack, "globex") == 0.0
    stored = await stack.pool.fetchrow("SELECT * FROM heartland_token_checks WHERE account = 'acme'")
    assert stored["refused"] and stored["status"] == 401 and stored["refused_since"] is not None

    hooks = [webhook("orders/create", SHOP, order_payload(spec(n))) for n in (1001, 1002, 1003)]
    await stack.send([*hooks, webhook("orders/create", SHOP2, order_payload(spec(2001)))])

    async def parked():
        rows = await stack.pool.fetch("SELECT * FROM orders WHERE shop = $1 AND lease_owner IS NULL "
                                      "AND due_seq = done_seq ORDER BY order_id", SHOP)
        return rows if len(rows) == 3 and all(r["sync_state"] != "received" for r in rows) else None
    rows = await eventually(parked)
    assert rows, await stack.pool.fetch("SELECT order_id, sync_state, pending_reasons FROM orders")
    for r in rows:
        assert r["sync_state"] == "failed", dict(r)
        assert [p["code"] for p in r["pending_reasons"]] == ["heartland_token_refused"]
        assert r["attempts"] == 0 and r["next_attempt_at"] is not None
    other = (await stack.wait_settled(1, states=("invoiced",)))
    assert [(r["shop"], r["order_id"]) for r in other] == [(SHOP2, 2001)]
    capsys.readouterr()
    assert await orders_list(stack.config, argparse.Namespace(state="failed", shop=None, limit=50, json=True)) == 0
    listed = json.loads(capsys.readouterr().out)["orders"]
    assert {(o["order_id"], o["state"], tuple(p["code"] for p in o["reasons"])) for o in listed} == {
        (n, "failed", ("heartland_token_refused",)) for n in (1001, 1002, 1003)}
    await asyncio.sleep(1.5)      # three more checks: still refused, nothing went dead
    assert await stack.pool.fetchval("SELECT count(*) FROM orders WHERE sync_state = 'dead'") == 0
    assert (await stack.state())["orders"] == []

    # Heartland accepts the daemon's token again: no operator command, the orders go on.
    await stack.control("PUT", "accounts/acme/token", {"token": TOKENS["ACME_TOKEN"]})
    done = await stack.wait_settled(4, timeout=20, states=("invoiced",))
    assert sorted((r["shop"], r["order_id"]) for r in done) == sorted(
        [(SHOP, 1001), (SHOP, 1002), (SHOP, 1003), (SHOP2, 2001)])
    status, body = await readyz(stack)
    assert status == 200 and body["checks"]["heartland_token:acme"] is True
    assert await gauge(stack, "acme") == 0.0
    assert not await stack.pool.fetchval("SELECT refused FROM heartland_token_checks WHERE account = 'acme'")
    assert len((await stack.state())["orders"]) == 3
