"""An operator's actions from the console: retry, retry all matching a filter, resolve with a note,
replay a dead letter — each changes what the shell's commands would, and says who did it."""
from __future__ import annotations

import re
import uuid
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

from console_support import NOW, console_config, seed_letter, seed_order
from kafka_helpers import create_topic, read_all
from stack import SHOP, SHOP2

UNKNOWN_ITEM = [{"code": "unknown_item", "message": "no Heartland item for SKU-9"}]


async def operator(console):
    b = console()
    assert (await b.login("alice"))[0] == 303
    return b


async def follow(b, r):
    status, text, _ = await b.get(r.headers["Location"])
    assert status == 200
    return text


async def test_retry_makes_a_dead_order_due_now_and_its_timeline_says_who_asked(console, pool):
    await seed_order(pool, 1001, "dead", attempts=12, last_error="503")
    b = await operator(console)
    _, page, _ = await b.get(f"/orders/{SHOP}/1001")
    assert "Retry now" in page
    status, _, r = await b.post(f"/orders/{SHOP}/1001/retry")
    assert status == 303 and urlsplit(r.headers["Location"]).path == f"/orders/{SHOP}/1001"
    row = await pool.fetchrow("SELECT sync_state, attempts, due_seq, done_seq, next_attempt_at FROM orders")
    assert row["sync_state"] == "failed" and row["attempts"] == 0 and row["due_seq"] == row["done_seq"] + 1
    assert row["next_attempt_at"] is not None
    history = await pool.fetchrow("SELECT kind, from_state, to_state, detail FROM order_history")
    assert dict(history) == {"kind": "state", "from_state": "dead", "to_state": "failed",
                             "detail": {"action": "operator_retry", "by": "alice"}}
    text = await follow(b, r)
    assert "Retry asked by alice: dead → failed, due now." in text
    timeline = re.findall(r'<tr class="tl-state"><td>[^<]+</td><td>state</td><td>([^<]+)</td>', text)
    assert timeline == ["dead → failed  [operator_retry by alice]"]
    assert "alice: operator_retry" not in text      # a state change, not a note: shown in the timeline


async def test_a_done_message_in_a_link_from_elsewhere_is_not_shown(console, pool):
    await seed_order(pool, 1001, "dead")
    b = await operator(console)
    _, text, _ = await b.get(f"/orders/{SHOP}/1001?done=Refund+sent+to+your+card&mark=abc")
    assert "Refund sent" not in text


async def test_retry_all_retries_exactly_the_orders_the_filter_matches(console, pool):
    old = NOW - timedelta(hours=2)
    await seed_order(pool, 1001, "pending", reasons=UNKNOWN_ITEM, changed=old)
    await seed_order(pool, 1002, "pending", reasons=UNKNOWN_ITEM, changed=NOW - timedelta(minutes=1))
    await seed_order(pool, 1003, "pending", reasons=[{"code": "total_mismatch", "message": "x"}], changed=old)
    await seed_order(pool, 1004, "pending", reasons=UNKNOWN_ITEM, changed=old, shop=SHOP2)
    await seed_order(pool, 1005, "dead", changed=old)
    b = await operator(console)
    _, text, _ = await b.get(f"/queues?kind=pending&shop={SHOP}&reason=unknown_item&age=1h")
    assert "Retry all matching this filter (1)" in text
    status, _, r = await b.post("/queues/retry", {"kind": "pending", "shop": SHOP, "reason": "unknown_item",
                                                  "age": "1h", "resolved": ""})
    assert status == 303
    due = {r["order_id"]: r["due_seq"] for r in await pool.fetch("SELECT order_id, due_seq FROM orders")}
    assert due == {1001: 2, 1002: 1, 1003: 1, 1004: 1, 1005: 1}
    assert await pool.fetchval("SELECT detail->>'by' FROM order_history WHERE order_id = 1001") == "alice"
    back = r.headers["Location"]
    assert parse_qs(urlsplit(back).query)["reason"] == ["unknown_item"]
    assert "Retry asked by alice for 1 order(s)." in await follow(b, r)
    status, text, _ = await b.post("/queues/retry", {"kind": "dead-letters"})
    assert status == 400


async def test_resolve_needs_a_note_takes_the_order_off_the_queues_until_something_new_happens(console, pool):
    await seed_order(pool, 1001, "pending", reasons=UNKNOWN_ITEM)
    b = await operator(console)
    status, text, _ = await b.post(f"/orders/{SHOP}/1001/resolve", {"note": "  "})
    assert status == 400 and "Say in the note" in text
    status, _, r = await b.post(f"/orders/{SHOP}/1001/resolve", {"note": "added SKU-9 in Heartland by hand"})
    assert status == 303
    text = await follow(b, r)
    assert "Resolved by <strong>alice</strong>" in text and "added SKU-9 in Heartland by hand" in text
    assert "Resolve with a note" not in text                 # once is enough
    assert "alice: operator_resolve — added SKU-9 in Heartland by hand" in text
    _, text, _ = await b.get("/queues?kind=pending")
    assert "#1001" not in text
    _, text, _ = await b.get("/queues?kind=pending&resolved=1")
    assert "#1001" in text and ">resolved<" in text
    _, text, _ = await b.get("/")
    assert "<strong>0</strong> pending orders" in text
    # the per-shop counts say resolved, as `orders list` and the mortard_orders gauge do
    head = re.search(r"<thead><tr><th>Shop</th>(.*?)</tr></thead>", text, re.S).group(1)
    assert re.findall(r">([a-z_]+)</th>", head) == ["resolved", "all"]
    # state and sync are untouched: resolving is a person's note, not a change to Heartland
    row = await pool.fetchrow("SELECT sync_state, due_seq FROM orders")
    assert tuple(row) == ("pending", 1)
    # a new event (due_seq moves) brings it back
    await pool.execute("UPDATE orders SET due_seq = due_seq + 1")
    _, text, _ = await b.get("/queues?kind=pending")
    assert "#1001" in text
    _, text, _ = await b.get("/")
    assert "<strong>1</strong> pending orders" in text


async def test_actions_on_an_order_that_does_not_exist_are_404(console, pool):
    b = await operator(console)
    await b.get("/")
    assert (await b.post(f"/orders/{SHOP}/999/retry"))[0] == 404
    assert (await b.post(f"/orders/{SHOP}/999/resolve", {"note": "x"}))[0] == 404
    assert (await b.post("/dead-letters/999/replay"))[0] == 404


async def test_replay_sends_a_dead_letter_back_to_the_topic_once(serve_console, db_url, pool, kafka_bootstrap):
    topic = f"orders-{uuid.uuid4().hex[:10]}"
    await create_topic(kafka_bootstrap, topic, partitions=1)
    browser = await serve_console(console_config(db_url, kafka=kafka_bootstrap, topic=topic))
    letter = await seed_letter(pool, 7, value=b'{"id": 1}')
    b = browser()
    await b.login("alice")
    await b.get("/queues?kind=dead-letters")
    status, _, r = await b.post(f"/dead-letters/{letter}/replay")
    assert status == 303
    text = await follow(b, r)
    assert f"Dead letter {letter} replayed by alice to {topic}[0]@0." in text
    records = await read_all(kafka_bootstrap, topic, expect=1)
    assert [(x.key, x.value) for x in records] == [(b"acme-store.myshopify.com", b'{"id": 1}')]
    assert await pool.fetchval("SELECT replayed_at FROM dead_letters") is not None
    # again without saying so: refused; with force (the "Replay again" button): sent again
    status, text, _ = await b.post(f"/dead-letters/{letter}/replay")
    assert status == 409 and "replayed already" in text
    status, _, _ = await b.post(f"/dead-letters/{letter}/replay", {"force": "1"})
    assert status == 303
    assert len(await read_all(kafka_bootstrap, topic, expect=2)) == 2


async def test_a_replay_kafka_refuses_leaves_the_letter_not_replayed(console, pool):
    letter = await seed_letter(pool, 7)     # the default config's broker is a closed port
    b = await operator(console)
    status, text, _ = await b.post(f"/dead-letters/{letter}/replay")
    assert status == 502 and "Nothing was replayed" in text
    assert await pool.fetchval("SELECT replayed_at FROM dead_letters") is None


async def test_resync_fetches_the_order_from_shopify_makes_it_due_and_says_who_asked(serve_console, db_url, pool):
    import dataclasses
    from datetime import datetime, timezone
    from decimal import Decimal

    from mortard.config import ShopifyConfig
    from mortard.secret import Secret
    from mortard.testing.shopify import LineSpec, OrderSpec, order_payload
    from mortard.testing.shopify_admin import TOKEN, ShopifyAdminSandbox
    from mortard.testing.shopify_graphql import sale_transaction

    await seed_order(pool, 5_555_001, "dead", attempts=3)
    async with ShopifyAdminSandbox({SHOP: TOKEN}) as sb:
        body = order_payload(OrderSpec(5_555_001, 5001, [LineSpec("SKU-0002", 2, Decimal("116.00"))]),
                             updated_at=datetime.now(timezone.utc) - timedelta(minutes=3))
        sale = sale_transaction(body)
        sb.put_order(SHOP, body, {str(sale["id"]): sale})
        cfg = console_config(db_url)
        with_admin = dataclasses.replace(cfg.shops[SHOP], shopify=ShopifyConfig(
            token=Secret(TOKEN), admin_url=sb.admin_url(SHOP), reconcile=False))
        cfg = dataclasses.replace(cfg, shops={**cfg.shops, SHOP: with_admin})
        b = (await serve_console(cfg))()
        await b.login("alice")
        _, page, _ = await b.get(f"/orders/{SHOP}/5555001")
        assert "Resync from Shopify" in page
        status, _, r = await b.post(f"/orders/{SHOP}/5555001/resync")
        assert status == 303, _
        assert "Resync asked by alice: fetched a change mortard had not stored; due now." in await follow(b, r)
    row = await pool.fetchrow("SELECT due_seq, done_seq FROM orders WHERE order_id = 5555001")
    assert row["due_seq"] > row["done_seq"]
    assert [r["source"] for r in await pool.fetch("SELECT source FROM events")] == ["resync"]
    history = await pool.fetchval("SELECT detail FROM order_history ORDER BY id DESC LIMIT 1")
    assert history == {"action": "operator_retry", "by": "alice"}


async def test_resync_is_not_offered_where_the_shop_has_no_shopify_access(console, pool):
    await seed_order(pool, 1001, "dead")
    b = await operator(console)
    _, page, _ = await b.get(f"/orders/{SHOP}/1001")
    assert "Retry now" in page and "Resync from Shopify" not in page
    status, text, _ = await b.post(f"/orders/{SHOP}/1001/resync")
    assert status == 409 and "no Shopify Admin API access" in text
