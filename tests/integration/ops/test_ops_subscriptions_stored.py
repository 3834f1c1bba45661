"""The daemon stores each shop's last webhook-subscription check in Postgres (the console's overview
and Subscriptions page read it from there, in another process)."""
from __future__ import annotations

import asyncio
import dataclasses

from mortard.config import ShopifyConfig
from mortard.secret import Secret
from mortard.store import health_checks
from mortard.testing.shopify_admin import TOKEN, ShopifyAdminSandbox
from stack import SHOP

ADDRESS = "https://hooks.example.com/webhooks/shopify"
TOPICS = ("ORDERS_CREATE", "ORDERS_UPDATED", "ORDERS_PAID", "ORDERS_CANCELLED", "ORDERS_EDITED",
          "REFUNDS_CREATE", "ORDER_TRANSACTIONS_CREATE")


async def stored(pool, predicate, timeout: float = 10.0):
    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        rows = {r.shop: r for r in await health_checks.subscription_checks(pool)}
        if SHOP in rows and predicate(rows[SHOP]):
            return rows[SHOP]
        await asyncio.sleep(0.1)
    raise AssertionError(f"never stored as expected: {rows}")


async def test_the_last_subscription_check_of_each_shop_is_stored(make):
    stack = await make()
    async with ShopifyAdminSandbox({SHOP: TOKEN}) as sb:
        for topic in TOPICS:
            sb.put_subscription(SHOP, topic, ADDRESS)
        sc = ShopifyConfig(token=Secret(TOKEN), admin_url=sb.admin_url(SHOP), webhook_address=ADDRESS,
                           reconcile_interval_s=0.2, settle_s=0.0)
        stack.config = dataclasses.replace(stack.config, shops={
            **stack.config.shops, SHOP: dataclasses.replace(stack.config.shops[SHOP], shopify=sc)})
        await stack.start_daemon()
        row = await stored(stack.pool, lambda r: r.missing == 0)
        assert row.address == ADDRESS and {t["status"] for t in row.topics} == {"ok"} and len(row.topics) == 7
        assert await health_checks.shops_missing_subscriptions(stack.pool) == 0
        sb.delete_subscription(SHOP, "REFUNDS_CREATE")      # Shopify gave up delivering to it
        row = await stored(stack.pool, lambda r: r.missing == 1)
        assert [t["topic"] for t in row.topics if t["status"] != "ok"] == ["refunds/create"]
        assert await health_checks.shops_missing_subscriptions(stack.pool) == 1
