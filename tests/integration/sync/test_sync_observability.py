"""A running daemon serves /metrics with the figures operators alert on, and /healthz and /readyz."""
from __future__ import annotations

import asyncio
from decimal import Decimal

from mortard.testing.shopify import LineSpec, OrderSpec, order_payload, webhook
from stack import SHOP


async def test_metrics_health_and_readiness_reflect_the_work_done(make, http):
    stack = await make()
    daemon = await stack.start_daemon()
    hooks = [webhook("orders/create", SHOP, order_payload(OrderSpec(9000 + i, 9000 + i,
                                                                    [LineSpec("SKU-0002", 1, Decimal("116.00"))])))
             for i in range(3)]
    await stack.send(hooks)
    await stack.wait_settled(3)
    await asyncio.sleep(1.2)  # one commit interval, so commit age and lag are observed
    base = daemon.ops.url if hasattr(daemon.ops, "url") else f"http://127.0.0.1:{daemon.ops.port}"
    async with http.get(f"{base}/metrics") as r:
        assert r.status == 200 and r.headers["Content-Type"].startswith("text/plain")
        text = await r.text()
    for name in ("mortard_events_consumed_total", "mortard_inbox_write_seconds", "mortard_consumer_lag",
                 "mortard_commit_age_seconds", "mortard_orders_completed_total", "mortard_step_duration_seconds",
                 "mortard_heartland_requests_total", "mortard_heartland_request_duration_seconds",
                 "mortard_account_concurrency_limit", "mortard_inflight_orders", "mortard_event_loop_lag_seconds",
                 "mortard_build_info"):
        assert name in text, name
    consumed = [ln for ln in text.splitlines() if ln.startswith('mortard_events_consumed_total{topic="orders/create"}')]
    assert consumed and float(consumed[0].split()[-1]) == 3.0
    invoiced = [ln for ln in text.splitlines() if ln.startswith('mortard_orders_completed_total{outcome="invoiced"}')]
    assert invoiced and float(invoiced[0].split()[-1]) == 3.0
    assert "order_id" not in text   # no per-order labels
    async with http.get(f"{base}/healthz") as r:
        assert r.status == 200
    async with http.get(f"{base}/readyz") as r:
        assert r.status == 200
        body = await r.json()
        assert body["ready"] is True and set(body["checks"]) >= {"postgres", "kafka", "sync"}
