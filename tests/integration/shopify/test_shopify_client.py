"""The Shopify client and gateway against the Shopify Admin sandbox over real HTTP."""
from __future__ import annotations

import time

import pytest

from mortard.secret import Secret
from mortard.shopify import (ShopifyClient, ShopifyGateway, ShopifyQueryError, ShopifyRetry, ShopifyShop,
                             ShopifyUnauthorized, ShopifyUnavailable)
from mortard.sync.model import ShopifyOrder
from mortard.testing.shopify import T0, LineSpec, OrderSpec, order_payload, refund_payload
from mortard.testing.shopify_admin import TOKEN, ShopifyAdminSandbox
from mortard.testing.shopify_graphql import sale_transaction

SHOP = "acme-outfitters.myshopify.com"


def _order(n: int, **kw):
    spec = OrderSpec(order_id=7_000_000 + n, number=1000 + n, lines=[LineSpec("SKU-A", 2, __import__("decimal").Decimal("10.00"))])
    return spec, order_payload(spec, **kw)


def _client(sb: ShopifyAdminSandbox, token: str = TOKEN, **retry) -> ShopifyClient:
    return ShopifyClient(ShopifyShop(SHOP, Secret(token), admin_url=sb.admin_url(SHOP)),
                         retry=ShopifyRetry(base_delay=0.01, max_delay=0.05, **retry))


async def test_a_fetched_order_with_refunds_and_transactions_equals_its_webhook_model():
    async with ShopifyAdminSandbox({SHOP: TOKEN}) as sb:
        spec, _ = _order(1)
        refund = refund_payload(spec, 88_001, {"SKU-A": (1, "return")})
        body = order_payload(spec, refunds=[refund], quantities={"SKU-A": 1})
        sale = sale_transaction(body)
        sb.put_order(SHOP, body, {str(sale["id"]): sale})
        async with _client(sb) as client:
            gw = ShopifyGateway(client)
            fetched = await gw.order(spec.order_id)
            assert fetched is not None and fetched.name == "#1001"
            assert ShopifyOrder.parse(fetched.snapshot, transactions=fetched.transactions) == \
                ShopifyOrder.parse(body, transactions={str(sale["id"]): sale})
            by_name = await gw.order_by_name("#1001")
            assert by_name is not None and by_name.order_id == spec.order_id
            assert await gw.order(123) is None
            assert await gw.order_by_name("#9999") is None
            assert client.cost_used > 0


async def test_listing_pages_through_orders_updated_since_in_updated_order():
    async with ShopifyAdminSandbox({SHOP: TOKEN}) as sb:
        from datetime import timedelta
        for n in range(7):
            _, body = _order(n, updated_at=T0 + timedelta(minutes=10 - n))
            sb.put_order(SHOP, body)
        async with _client(sb) as client:
            gw = ShopifyGateway(client)
            seen, cursor = [], None
            while True:
                page = await gw.orders_updated_since(T0 + timedelta(minutes=5), cursor, 2)
                seen.extend(page.stamps)
                cursor = page.next_cursor
                if cursor is None:
                    break
            assert [s.updated_at for s in seen] == sorted(s.updated_at for s in seen)
            assert len(seen) == 6        # minute 4 is before `since`


async def test_5xx_are_retried_and_a_wrong_token_is_refused_at_once():
    async with ShopifyAdminSandbox({SHOP: TOKEN}) as sb:
        spec, body = _order(2)
        sb.put_order(SHOP, body)
        sb.shop(SHOP).fail_next = [503, 502]
        async with _client(sb) as client:
            assert (await ShopifyGateway(client).order(spec.order_id)) is not None
            assert client.calls == 3
        sb.shop(SHOP).fail_next = [500] * 10
        async with _client(sb, attempts=3) as client:
            with pytest.raises(ShopifyUnavailable):
                await ShopifyGateway(client).order(spec.order_id)
        async with _client(sb, token="wrong") as client:
            with pytest.raises(ShopifyUnauthorized) as info:
                await ShopifyGateway(client).order(spec.order_id)
            assert "wrong" not in str(info.value)


async def test_throttled_answers_are_waited_out_and_steady_state_is_never_throttled():
    async with ShopifyAdminSandbox({SHOP: TOKEN}) as sb:
        spec, body = _order(3)
        sb.put_order(SHOP, body)
        state = sb.shop(SHOP)
        state.throttle_next = 2
        async with _client(sb) as client:
            gw = ShopifyGateway(client)
            assert (await gw.order(spec.order_id)) is not None
            assert client.throttled == 2
        # A small bucket refilling slowly: every fetch asks for 620 points of 650. The client waits for
        # the bucket instead of being turned away.
        state.bucket.maximum = state.bucket.available = 650.0
        state.bucket.restore_rate = 60.0
        state.throttled = 0
        async with _client(sb) as client:
            gw = ShopifyGateway(client)
            started = time.monotonic()
            for _ in range(8):
                assert (await gw.order(spec.order_id)) is not None
            assert state.throttled <= 1            # at most the first call, before the bucket is known
            assert time.monotonic() - started > 0.1  # it waited for refills


async def test_a_query_over_the_single_query_ceiling_is_a_clear_error():
    async with ShopifyAdminSandbox({SHOP: TOKEN}) as sb:
        sb.shop(SHOP).bucket.maximum = 100.0
        async with _client(sb) as client:
            with pytest.raises(ShopifyQueryError, match="exceeds"):
                await ShopifyGateway(client).order(1)


async def test_subscriptions_are_listed_and_created_with_the_pinned_version():
    async with ShopifyAdminSandbox({SHOP: TOKEN}) as sb:
        sb.put_subscription(SHOP, "ORDERS_CREATE", "https://hooks.example.com/webhooks/shopify", "2025-01")
        async with _client(sb) as client:
            gw = ShopifyGateway(client)
            subs = await gw.webhook_subscriptions()
            assert [(s.topic, s.api_version) for s in subs] == [("orders/create", "2025-01")]
            made = await gw.create_webhook_subscription("order_transactions/create",
                                                        "https://hooks.example.com/webhooks/shopify")
            assert (made.topic, made.api_version) == ("order_transactions/create", "2026-10")
            from mortard.shopify import ShopifyUserError
            with pytest.raises(ShopifyUserError, match="already been taken"):
                await gw.create_webhook_subscription("order_transactions/create",
                                                     "https://hooks.example.com/webhooks/shopify")
