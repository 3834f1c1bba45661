"""The journal's promise, watched from the Heartland side: every mutation that reaches the API has
its journal row in Postgres already, and every row ends up saying what became of its request."""
from __future__ import annotations

import itertools

from collections.abc import AsyncIterator, Awaitable, Callable
from decimal import Decimal

import pytest
from aiohttp import web

from mortard.testing.shopify import LineSpec, OrderSpec, order_payload, webhook
from mortard.sandbox import create_app
from stack import SHOP, make_stack
from values import ints_in

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@pytest.fixture
async def watched_sandbox(pool) -> AsyncIterator[tuple[str, dict]]:
    """A sandbox that, on each mutating API request, counts the journal rows already durable; and
    that refuses the Nth order line when `seen["refuse_line"]` says so."""
    seen: dict = {"mutations": 0, "short": [], "lines": 0, "refuse_line": None}

    @web.middleware
    async def watch(request: web.Request, handler: Handler) -> web.StreamResponse:
        if "/api/" in request.path and request.method in ("POST", "PUT", "DELETE"):
            seen["mutations"] += 1
            journaled = await pool.fetchval("SELECT count(*) FROM journal WHERE shop = $1", SHOP)
            if journaled < seen["mutations"]:
                seen["short"].append((request.method, request.path, journaled, seen["mutations"]))
            if request.method == "POST" and request.path.endswith("/lines") and "/orders/" in request.path:
                seen["lines"] += 1
                if seen["lines"] == seen["refuse_line"]:
                    return web.json_response({"error": "validation_error", "message": "refused by the test",
                                              "details": {"qty": "no"}}, status=422)
        return await handler(request)

    app = create_app()
    app.middlewares.insert(0, watch)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    yield f"http://127.0.0.1:{port}", seen
    await runner.cleanup()


def two_line_order(order_id: int) -> dict:
    return order_payload(OrderSpec(order_id, order_id, [LineSpec("SKU-0002", 1, Decimal("116.00")),
                                                         LineSpec("SKU-0003", 1, Decimal("24.00"))],
                                   shipping=Decimal("7.50")))


async def test_every_request_is_journaled_before_it_reaches_heartland(db_url, kafka_bootstrap, http, pool,
                                                                      watched_sandbox):
    url, seen = watched_sandbox
    stack = await make_stack(db_url, kafka_bootstrap, http, url, pool)
    await stack.start_daemon()
    try:
        await stack.send([webhook("orders/create", SHOP, two_line_order(2001))])
        (row,) = await stack.wait_settled(1)
    finally:
        await stack.stop_daemon()
    assert row["sync_state"] == "invoiced"
    assert seen["mutations"] >= 8 and seen["short"] == []
    journal = await pool.fetch("SELECT action, status, heartland_id, sent_at, request FROM journal WHERE shop = $1 "
                               "AND order_id = 2001 ORDER BY id", SHOP)
    assert len(journal) == seen["mutations"]           # one row per request, none left open
    assert {j["status"] for j in journal} == {"ok"}
    assert [j["action"] for j in journal][:1] == ["create_customer"] and journal[-1]["action"] == "complete_invoice"
    # Rows are written ahead (sync/batch.py), each then recording the request as really sent: the
    # creation (customer to order) in one write, made while the stock is read (sync/overlap.py), and
    # the rest (lines to invoice) in a second once the stock is in.
    writes: dict[object, list[str]] = {}
    for j in journal:
        writes.setdefault(j["sent_at"], []).append(j["action"])
    assert list(writes.values())[0] == ["create_customer", "add_address", "create_order"]
    assert len(writes) == 2 and list(writes.values())[1][0] == "add_line"
    assert all(v >= 0 for j in journal for v in ints_in(j["request"])), "a stand-in id left in a sent request"
    created = {j["action"]: j["heartland_id"] for j in journal if j["heartland_id"] is not None}
    assert created["create_order"] == row["heartland_order_id"]


async def test_a_refused_mutation_leaves_the_rest_of_its_batch_unsent(db_url, kafka_bootstrap, http, pool,
                                                                      watched_sandbox):
    url, seen = watched_sandbox
    seen["refuse_line"] = 1
    stack = await make_stack(db_url, kafka_bootstrap, http, url, pool)
    await stack.start_daemon()
    try:
        await stack.send([webhook("orders/create", SHOP, two_line_order(2002))])
        (row,) = await stack.wait_settled(1)
    finally:
        await stack.stop_daemon()
    assert row["sync_state"] == "dead" and "refused by the test" in row["pending_reasons"][0]["message"]
    journal = await pool.fetch("SELECT action, status FROM journal WHERE shop = $1 AND order_id = 2002 ORDER BY id",
                               SHOP)
    statuses = [(j["action"], j["status"]) for j in journal]
    refused = statuses.index(("add_line", "failed"))
    assert all(s == "ok" for _, s in statuses[:refused]), statuses
    # The other line, the tax and the payment went out together with it (sync/execute.py), each
    # under its own row, and were answered; nothing planned after them was sent.
    together = list(itertools.takewhile(lambda r: r[1] != "unsent", statuses[refused + 1:]))
    assert together and all(a in ("add_line", "add_tax", "add_payment") and s == "ok" for a, s in together), statuses
    after = statuses[refused + 1 + len(together):]
    assert after and all(s == "unsent" for _, s in after), statuses   # open, the invoice and its lines
    assert seen["mutations"] == refused + 1 + len(together) and seen["short"] == []
