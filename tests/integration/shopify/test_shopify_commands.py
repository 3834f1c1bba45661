"""`mortard orders resync` and `mortard shops webhooks [--fix]`, run as a shell runs them, against the
Shopify Admin sandbox, Postgres, the broker and the Heartland sandbox."""
from __future__ import annotations

import asyncio
import dataclasses
import json
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import mortard.cli
from mortard.config import ShopifyConfig
from mortard.secret import Secret
from mortard.testing.shopify import LineSpec, OrderSpec, order_payload
from mortard.testing.shopify_admin import TOKEN, ShopifyAdminSandbox
from mortard.testing.shopify_graphql import sale_transaction
from stack import SHOP, TOKENS, Stack

ADDRESS = "https://hooks.example.com/webhooks/shopify"


def _write_config(tmp_path: Path, stack: Stack, sb: ShopifyAdminSandbox) -> Path:
    cfg = stack.config
    acme = cfg.accounts["acme"]
    path = tmp_path / "mortard.toml"
    path.write_text(f"""
[database]
url = {json.dumps(cfg.database.url)}
[kafka]
bootstrap = {json.dumps(cfg.kafka.bootstrap)}
topic = {json.dumps(cfg.kafka.topic)}
[heartland.accounts.acme]
token_env = "ACME_TOKEN"
base_url = {json.dumps(acme.resolved_base_url)}
[shops.{json.dumps(SHOP)}]
heartland_account = "acme"
[shops.{json.dumps(SHOP)}.shopify]
access_token_env = "SHOPIFY_ACME_TOKEN"
admin_url = {json.dumps(sb.admin_url(SHOP))}
webhook_address = {json.dumps(ADDRESS)}
reconcile = false
""")
    return path


async def _cli(capsys, path: Path, *argv: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = await asyncio.to_thread(mortard.cli.main, [*argv, "--config", str(path)])
    out, err = capsys.readouterr()
    return code, out, err


async def test_resync_fetches_an_order_mortard_never_saw_and_it_is_synced(make, tmp_path, capsys, monkeypatch):
    for k, v in {**TOKENS, "SHOPIFY_ACME_TOKEN": TOKEN}.items():
        monkeypatch.setenv(k, v)
    stack = await make()
    await stack.set_stock([{"item": "SKU-0002", "location": loc, "on_hand": 9} for loc in ("S01", "S02", "S03")])
    async with ShopifyAdminSandbox({SHOP: TOKEN}) as sb:
        spec = OrderSpec(5_555_001, 5001, [LineSpec("SKU-0002", 2, Decimal("116.00"))])
        body = order_payload(spec, updated_at=datetime.now(timezone.utc) - timedelta(minutes=3))
        sale = sale_transaction(body)
        sb.put_order(SHOP, body, {str(sale["id"]): sale})
        path = _write_config(tmp_path, stack, sb)
        code, out, err = await _cli(capsys, path, "orders", "resync", SHOP, "#5001")
        assert code == 0, err
        assert "#5001" in out and "had not stored" in out
        row = await stack.order(spec.order_id)
        assert row is not None and row["due_seq"] > row["done_seq"]
        code, out, err = await _cli(capsys, path, "orders", "resync", SHOP, str(spec.order_id), "--json")
        assert code == 0 and json.loads(out)["new_snapshot"] is False
        code, out, err = await _cli(capsys, path, "orders", "resync", SHOP, "#404")
        assert code == 1 and "no order #404" in err
        await stack.start_daemon()
        (row,) = await stack.wait_settled(1)
        assert row["sync_state"] == "invoiced"
        (o,) = (await stack.state())["orders"]
        assert o["public_id"] == "#5001" and o["total"] == Decimal(body["total_price"])
        sources = [r["source"] for r in await stack.pool.fetch("SELECT source FROM events")]
        assert sources == ["resync"]


async def test_webhooks_lists_what_is_missing_and_fix_creates_it(make, tmp_path, capsys, monkeypatch):
    for k, v in {**TOKENS, "SHOPIFY_ACME_TOKEN": TOKEN}.items():
        monkeypatch.setenv(k, v)
    stack = await make()
    async with ShopifyAdminSandbox({SHOP: TOKEN}) as sb:
        sb.put_subscription(SHOP, "ORDERS_CREATE", ADDRESS)
        sb.put_subscription(SHOP, "ORDERS_UPDATED", "https://old-host.example.com/hooks")
        path = _write_config(tmp_path, stack, sb)
        code, out, err = await _cli(capsys, path, "shops", "webhooks", SHOP, "--json")
        doc = json.loads(out)
        status = {t["topic"]: t["status"] for t in doc["topics"]}
        assert code == 1 and status["orders/create"] == "ok" and status["orders/updated"] == "elsewhere"
        assert status["refunds/create"] == "missing" and doc["missing"] == len(status) - 1
        code, out, err = await _cli(capsys, path, "shops", "webhooks", SHOP, "--fix")
        assert code == 0, (out, err)
        assert "created refunds/create" in out
        code, out, err = await _cli(capsys, path, "shops", "webhooks", SHOP, "--json")
        assert code == 0 and json.loads(out)["missing"] == 0
        assert TOKEN not in out + err


async def test_webhooks_at_another_api_version_say_where_the_version_is_set(make, tmp_path, capsys, monkeypatch):
    for k, v in {**TOKENS, "SHOPIFY_ACME_TOKEN": TOKEN}.items():
        monkeypatch.setenv(k, v)
    stack = await make()
    async with ShopifyAdminSandbox({SHOP: TOKEN}) as sb:
        sb.shop(SHOP).webhooks_api_version = "2026-07"       # the app's setting, not mortard's pin
        path = _write_config(tmp_path, stack, sb)
        code, out, err = await _cli(capsys, path, "shops", "webhooks", SHOP, "--fix")
        assert code == 1, (out, err)                          # created, but still at the app's version
        assert "created orders/create" in out
        assert "Webhooks API version" in out and "2026-10" in out
        code, out, err = await _cli(capsys, path, "shops", "webhooks", SHOP, "--json")
        doc = json.loads(out)
        assert code == 1 and {t["status"] for t in doc["topics"]} == {"version"}
        assert "shopify.app.toml" in doc["version_hint"]
        code, out, err = await _cli(capsys, path, "shops", "webhooks", SHOP, "--fix")
        assert "created" not in out                           # nothing re-created in a loop
        assert len(sb.shop(SHOP).subscriptions) == len(doc["topics"])


async def test_the_daemon_gauges_a_deleted_subscription(make, monkeypatch):
    stack = await make()
    async with ShopifyAdminSandbox({SHOP: TOKEN}) as sb:
        for topic in ("ORDERS_CREATE", "ORDERS_UPDATED", "ORDERS_PAID", "ORDERS_CANCELLED", "ORDERS_EDITED",
                      "REFUNDS_CREATE", "ORDER_TRANSACTIONS_CREATE"):
            sb.put_subscription(SHOP, topic, ADDRESS)
        sc = ShopifyConfig(token=Secret(TOKEN), admin_url=sb.admin_url(SHOP), webhook_address=ADDRESS,
                           reconcile_interval_s=0.2, settle_s=0.0)
        stack.config = dataclasses.replace(stack.config, shops={
            **stack.config.shops, SHOP: dataclasses.replace(stack.config.shops[SHOP], shopify=sc)})
        daemon = await stack.start_daemon()
        gauge = daemon.metrics.webhook_subscriptions_missing.labels(SHOP)
        for _ in range(50):
            if daemon.reconcilers[SHOP].subscriptions_missing == 0:
                break
            await asyncio.sleep(0.1)
        assert gauge._value.get() == 0
        sb.delete_subscription(SHOP, "REFUNDS_CREATE")      # Shopify gave up delivering to it
        for _ in range(50):
            if gauge._value.get() == 1:
                break
            await asyncio.sleep(0.1)
        assert gauge._value.get() == 1
