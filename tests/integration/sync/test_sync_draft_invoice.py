"""An invoice Heartland refuses to complete (the stock was sold elsewhere after mortard routed it)
is kept and reused, never abandoned and never doubled, and the order says why."""
from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest
from aiohttp import web

from mortard.testing.shopify import LineSpec, OrderSpec, order_payload, webhook
from mortard.sandbox import create_app
from mortard.sync.reservations import DRAFT_RETRY_MAX, draft_retry_delay
from stack import SHOP, make_stack

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@pytest.fixture
async def store_sale_sandbox(http) -> AsyncIterator[tuple[str, dict]]:
    """A sandbox where, just before mortard's first invoice completion reaches it, the store sells
    its only unit over the counter (on hand goes to 0)."""
    seen: dict = {"completions": 0}

    @web.middleware
    async def sell_first(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.method == "PUT" and "/sales/invoices/" in request.path and "/api/" in request.path:
            seen["completions"] += 1
            if seen["completions"] == 1:
                async with http.put(f"{seen['url']}/_sandbox/accounts/acme/inventory",
                                    json=[{"item": "SKU-0060", "location": "S01", "on_hand": 0}]) as r:
                    r.raise_for_status()
        return await handler(request)

    app = create_app()
    app.middlewares.insert(0, sell_first)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    seen["url"] = f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}"  # type: ignore[union-attr]
    yield seen["url"], seen
    await runner.cleanup()


def test_a_refused_invoice_is_retried_soon_at_first_and_at_most_every_quarter_hour():
    assert draft_retry_delay(timedelta(0)) == timedelta(seconds=5)
    assert draft_retry_delay(timedelta(minutes=10)) == timedelta(minutes=1)
    assert draft_retry_delay(timedelta(days=3)) == DRAFT_RETRY_MAX


async def test_an_invoice_refused_for_want_of_stock_is_reused_once_the_stock_is_back(
        db_url, kafka_bootstrap, http, pool, store_sale_sandbox):
    url, seen = store_sale_sandbox
    stack = await make_stack(db_url, kafka_bootstrap, http, url, pool)
    await stack.set_stock([{"item": "SKU-0060", "location": loc, "on_hand": n}
                           for loc, n in (("S01", 1), ("S02", 0), ("S03", 0))])
    await stack.start_daemon()
    try:
        await stack.send([webhook("orders/create", SHOP, order_payload(
            OrderSpec(3001, 3001, [LineSpec("SKU-0060", 1, Decimal("10.00"))])))])
        (row,) = await stack.wait_settled(1)
        assert row["sync_state"] == "waiting_stock", dict(row)
        (reason,) = row["pending_reasons"]
        (draft,) = (await stack.state())["invoices"]
        assert draft["status"] != "complete"
        assert reason["code"] == "invoice_refused" and f"invoice {draft['id']} kept open" in reason["message"]
        # It will try that invoice again, soon: the order isn't left for staff to find.
        assert row["next_attempt_at"] is not None
        assert row["next_attempt_at"] - datetime.now(timezone.utc) < timedelta(seconds=10)
        # The store receives a unit; the retry (brought forward here) completes the same invoice.
        await stack.set_stock([{"item": "SKU-0060", "location": "S01", "on_hand": 1}])
        await pool.execute("UPDATE orders SET next_attempt_at = now() WHERE order_id = 3001")
        (row,) = await stack.wait_settled(1, states=("invoiced",))
    finally:
        await stack.stop_daemon()
    assert row["next_attempt_at"] is None and row["pending_reasons"] == []
    state = await stack.state()
    (invoice,) = state["invoices"]
    assert invoice["id"] == draft["id"] and invoice["status"] == "complete"
    assert state["orders"][0]["status"] == "closed" and seen["completions"] == 2
    stock = await stack.stock()
    assert stock[("SKU-0060", "S01")]["qty_on_hand"] == 0 and stock[("SKU-0060", "S01")]["qty_available"] == 0
