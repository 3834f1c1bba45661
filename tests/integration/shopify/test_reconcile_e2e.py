"""Reconciliation on real servers: Shopify Admin sandbox (HTTP), Postgres, broker, Heartland sandbox."""
from __future__ import annotations

import asyncio
import json
import dataclasses
from datetime import datetime, timedelta, timezone
from decimal import Decimal

from mortard.config import ShopifyConfig
from mortard.reconcile.loop import ReconcileSettings, Reconciler
from mortard.secret import Secret
from mortard.shopify import ShopifyClient, ShopifyGateway, ShopifyShop
from mortard.shopify import gateway as gateway_module
from mortard.store.reconcile import ReconcileStore
from mortard.testing.shopify import LineSpec, OrderSpec, order_payload, refund_payload, webhook
from mortard.testing.shopify_admin import TOKEN, ShopifyAdminSandbox
from mortard.testing.shopify_graphql import sale_transaction
from stack import SHOP, Stack

S01, S02, S03 = 2, 3, 4


def _with_shopify(stack: Stack, sb: ShopifyAdminSandbox, **kw) -> None:
    sc = ShopifyConfig(token=Secret(TOKEN), admin_url=sb.admin_url(SHOP), reconcile_interval_s=0.3,
                       settle_s=0.0, backfill_s=3600.0, overlap_s=60.0, page_size=3, **kw)
    shops = dict(stack.config.shops)
    shops[SHOP] = dataclasses.replace(shops[SHOP], shopify=sc)
    stack.config = dataclasses.replace(stack.config, shops=shops)


async def _stock(stack: Stack, *skus: str) -> None:
    await stack.set_stock([{"item": sku, "location": loc, "on_hand": 20} for sku in skus for loc in ("S01", "S02", "S03")])


def _recent(spec: OrderSpec, seconds_ago: float = 30.0, **kw):
    return order_payload(spec, updated_at=datetime.now(timezone.utc) - timedelta(seconds=seconds_ago), **kw)


async def test_an_order_whose_webhooks_never_came_reaches_heartland_by_reconciliation(make):
    stack = await make()
    await _stock(stack, "SKU-0002", "SKU-0003")
    async with ShopifyAdminSandbox({SHOP: TOKEN}) as sb:
        _with_shopify(stack, sb)
        delivered = OrderSpec(3001, 3001, [LineSpec("SKU-0002", 1, Decimal("116.00"))])
        missed = OrderSpec(3002, 3002, [LineSpec("SKU-0003", 2, Decimal("24.00"))], shipping=Decimal("5.00"))
        for spec in (delivered, missed):
            body = _recent(spec)
            sale = sale_transaction(body)
            sb.put_order(SHOP, body, {str(sale["id"]): sale})
        daemon = await stack.start_daemon()
        assert set(daemon.reconcilers) == {SHOP}
        await stack.send([webhook("orders/create", SHOP, sb.shop(SHOP).orders[3001])])   # 3002's never arrives
        rows = await stack.wait_settled(2, timeout=40)
        assert {r["order_id"]: r["sync_state"] for r in rows} == {3001: "invoiced", 3002: "invoiced"}
        state = await stack.state()
        by_public = {o["public_id"]: o for o in state["orders"]}
        assert by_public["#3002"]["total"] == Decimal(sb.shop(SHOP).orders[3002]["total_price"])
        sources = {r["order_id"]: r["source"] for r in await stack.pool.fetch("SELECT order_id, source FROM events")}
        assert sources[3002] == "reconcile"
        assert sources[3001] == "webhook"          # a stored change is not fetched again
        m = daemon.metrics
        assert m.reconcile_recovered_orders_total.labels(SHOP)._value.get() == 1
        assert m.shopify_query_cost_total.labels(SHOP)._value.get() > 0
        # A refund whose webhooks are lost too: the next run brings it; the return ticket is made.
        refund = refund_payload(missed, 93_002, {"SKU-0003": (1, "return")})
        sb.put_order(SHOP, _recent(missed, 1.0, refunds=[refund], quantities={"SKU-0003": 1}))
        deadline = asyncio.get_running_loop().time() + 30
        while asyncio.get_running_loop().time() < deadline:
            tickets = (await stack.state()).get("tickets") or []
            if any(t.get("public_id", "").startswith("#3002") for t in tickets):
                break
            await asyncio.sleep(0.2)
        else:
            raise AssertionError(f"no return ticket for #3002: {await stack.state()}")
        assert m.reconcile_recovered_orders_total.labels(SHOP)._value.get() == 2


async def test_without_shopify_access_nothing_reconciles(make):
    stack = await make()
    daemon = await stack.start_daemon()
    assert daemon.reconcilers == {} and daemon.shopify_clients == {}


async def test_the_watermark_advances_only_over_durable_orders_and_backfills_first(pool):
    async with ShopifyAdminSandbox({SHOP: TOKEN}) as sb:
        now = datetime.now(timezone.utc)
        for i in range(5):
            sb.put_order(SHOP, order_payload(OrderSpec(4000 + i, 4000 + i, [LineSpec("A", 1, Decimal("1.00"))]),
                                             updated_at=now - timedelta(minutes=50 - i)))
        old = OrderSpec(4100, 4100, [LineSpec("A", 1, Decimal("1.00"))])
        sb.put_order(SHOP, order_payload(old, updated_at=now - timedelta(hours=5)))
        store = ReconcileStore(pool)
        async with ShopifyClient(ShopifyShop(SHOP, Secret(TOKEN), admin_url=sb.admin_url(SHOP))) as client:
            rec = Reconciler(SHOP, ShopifyGateway(client), store,
                             ReconcileSettings(backfill_s=3600, overlap_s=600, settle_s=0, page_size=2),
                             now=lambda: now)
            # Postgres fails mid-run: nothing durable past the failure, so the watermark stays behind it.
            real = store.take_in
            calls = 0

            async def flaky(events, source):
                nonlocal calls
                calls += 1
                if calls == 2:
                    raise OSError("connection lost")
                return await real(events, source)
            store.take_in = flaky  # type: ignore[method-assign]
            assert await rec.tick() is None
            mark = await store.watermark(SHOP)
            assert mark == now - timedelta(minutes=49)      # the first page (2 orders) only
            store.take_in = real  # type: ignore[method-assign]
            result = await rec.run_once()
            assert result.recovered == 3 and result.fetched == 3      # overlap re-lists the first two: stored
            assert await store.watermark(SHOP) == now
            stored = await pool.fetch("SELECT order_id FROM orders ORDER BY order_id")
            assert [r["order_id"] for r in stored] == [4000, 4001, 4002, 4003, 4004]   # 4100 is outside the backfill
            again = await rec.run_once()
            assert again.recovered == 0 and again.fetched == 0


async def test_one_daemon_of_a_group_reconciles_a_shop_at_a_time(pool):
    async with ShopifyAdminSandbox({SHOP: TOKEN}) as sb:
        store = ReconcileStore(pool)
        async with ShopifyClient(ShopifyShop(SHOP, Secret(TOKEN), admin_url=sb.admin_url(SHOP))) as client:
            settings = ReconcileSettings(interval_s=0.1, settle_s=0)
            a = Reconciler(SHOP, ShopifyGateway(client), store, settings, owner="daemon-a")
            b = Reconciler(SHOP, ShopifyGateway(client), store, settings, owner="daemon-b")
            assert await a.tick() is not None
            assert await b.tick() is None                  # a leads the shop
            assert await a.tick() is not None
            await pool.execute("UPDATE shopify_reconcile SET leader_until = now() - interval '1 second'")
            assert await b.tick() is not None              # a's lead ran out: b takes over
            assert await a.tick() is None


async def test_an_order_longer_than_one_page_of_lines_is_read_whole_page_by_page(pool):
    async with ShopifyAdminSandbox({SHOP: TOKEN}) as sb:
        now = datetime.now(timezone.utc)
        long = OrderSpec(4300, 4300, [LineSpec(f"SKU-{i:04d}", 1, Decimal("1.00")) for i in range(230)])
        sb.put_order(SHOP, order_payload(long, updated_at=now - timedelta(minutes=1)))
        store = ReconcileStore(pool)
        async with ShopifyClient(ShopifyShop(SHOP, Secret(TOKEN), admin_url=sb.admin_url(SHOP))) as client:
            rec = Reconciler(SHOP, ShopifyGateway(client), store, ReconcileSettings(settle_s=0), now=lambda: now)
            result = await rec.run_once()
        assert result.recovered == 1 and rec.skipped == 0
        assert sb.shop(SHOP).calls["MortardOrderLineItems"] == 2          # lines 101-200, then 201-230
        body = await pool.fetchval("SELECT payload FROM events WHERE order_id = 4300")
        skus = [li["sku"] for li in (json.loads(body) if isinstance(body, str) else body)["line_items"]]
        assert skus == [f"SKU-{i:04d}" for i in range(230)]


async def test_an_order_too_large_to_read_is_logged_and_does_not_hold_the_others_back(pool, monkeypatch):
    monkeypatch.setattr(gateway_module, "MAX_LINE_PAGES", 1)    # 2 pages of 100 lines at most
    async with ShopifyAdminSandbox({SHOP: TOKEN}) as sb:
        now = datetime.now(timezone.utc)
        big = OrderSpec(4200, 4200, [LineSpec(f"SKU-{i}", 1, Decimal("1.00")) for i in range(201)])
        small = OrderSpec(4201, 4201, [LineSpec("A", 1, Decimal("1.00"))])
        sb.put_order(SHOP, order_payload(big, updated_at=now - timedelta(minutes=2)))
        sb.put_order(SHOP, order_payload(small, updated_at=now - timedelta(minutes=1)))
        store = ReconcileStore(pool)
        async with ShopifyClient(ShopifyShop(SHOP, Secret(TOKEN), admin_url=sb.admin_url(SHOP))) as client:
            rec = Reconciler(SHOP, ShopifyGateway(client), store, ReconcileSettings(settle_s=0), now=lambda: now)
            result = await rec.run_once()
        assert result.recovered == 1 and rec.skipped == 1
        assert [r["order_id"] for r in await pool.fetch("SELECT order_id FROM orders")] == [4201]
