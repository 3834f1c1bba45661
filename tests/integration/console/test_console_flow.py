"""A person's whole errand through the console, with the daemon's real machine and the Heartland
sandbox: find the order that waits, read why, fix the cause, retry it, see it invoiced."""
from __future__ import annotations

import re
from decimal import Decimal

import aiohttp

from console_support import console_config, run_daemon_once, set_stock
from mortard.sync.states import REASONS
from mortard.testing.shopify import LineSpec, OrderSpec, order_payload
from stack import SHOP


async def test_find_a_waiting_order_read_why_retry_it_once_stock_is_back_and_see_it_invoiced(
        serve_console, db_url, pool, sandbox_url):
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{sandbox_url}/_sandbox/reset") as r:
            r.raise_for_status()
        locations = ["ONLINE", "S01", "S02", "S03"]       # the sandbox fixture's (sandbox/fixtures/default.json)
        await set_stock(http, sandbox_url, "SKU-0002", {loc: 0 for loc in locations})
        cfg = console_config(db_url, sandbox_url)
        payload = order_payload(OrderSpec(1001, 1001, [LineSpec("SKU-0002", 1, Decimal("116.00"))]))
        await pool.execute("INSERT INTO orders (shop, order_id, order_name, snapshot, snapshot_updated_at, due_seq) "
                           "VALUES ($1, 1001, '#1001', $2, now(), 1)", SHOP, payload)
        await run_daemon_once(cfg, pool)
        state = await pool.fetchval("SELECT sync_state FROM orders")
        assert state == "waiting_stock", state

        browser = await serve_console(cfg)
        b = browser()
        assert (await b.login("alice"))[0] == 303
        _, text, _ = await b.get("/")
        assert "<strong>1</strong> waiting for stock" in text
        _, text, _ = await b.get("/queues?kind=waiting")
        link = re.search(rf'<a href="(/orders/{re.escape(SHOP)}/1001)">#1001</a>', text)
        assert link is not None and REASONS["no_stock"].means in text
        _, page, _ = await b.get(link.group(1))
        assert REASONS["no_stock"].means in page and "Retry now" in page

        await set_stock(http, sandbox_url, "SKU-0002", {"S02": 5})     # stock arrived
        status, _, r = await b.post(f"/orders/{SHOP}/1001/retry")
        assert status == 303
        await run_daemon_once(cfg, pool)
        _, page, _ = await b.get(r.headers["Location"])
        assert "<strong>invoiced</strong>" in page and "Retry asked by alice" in page
        timeline = re.findall(r'<tr class="tl-(\w+)"><td>[^<]+</td><td>\w+</td><td>([^<]+)</td>', page)
        notes = [text for what, text in timeline if what == "note"]
        assert notes == ["retry asked by alice (state waiting_stock)"]
        after = timeline[[t for _, t in timeline].index(notes[0]) + 1:]
        assert ("created", "invoice 1 at location 3") in after and any("complete invoice" in t for _, t in after)
        _, text, _ = await b.get("/")
        assert "<strong>0</strong> waiting for stock" in text
        assert 'data-series="' + SHOP + '"' in text        # the invoice is on the per-minute chart
