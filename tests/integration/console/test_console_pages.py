"""The console's pages on seeded orders: overview (counts, what needs a person, charts), the queues with
their filters, one order's whole page, and its dry run against the Heartland sandbox."""
from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal

import aiohttp

from console_support import NOW, console_config, seed_letter, seed_order
from mortard.sync.states import REASONS
from mortard.testing.shopify import LineSpec, OrderSpec, order_payload
from stack import SHOP, SHOP2

UNKNOWN_ITEM = [{"code": "unknown_item", "message": "no Heartland item for SKU-9"}]
NO_STOCK = [{"code": "no_stock", "message": "SKU-0003 has no stock anywhere"}]


def rows(text: str, cls: str) -> list[str]:
    return re.findall(rf'<tr class="{cls}">(.*?)</tr>', text, re.S)


async def logged_in(console, user: str = "victor"):
    b = console()
    assert (await b.login(user))[0] == 303
    return b


async def test_overview_counts_states_per_shop_says_what_needs_a_person_and_draws_the_charts(console, pool):
    await seed_order(pool, 1001, "pending", reasons=UNKNOWN_ITEM)
    await seed_order(pool, 1002, "dead", attempts=12)
    await seed_order(pool, 1003, "waiting_stock", reasons=NO_STOCK)
    for n in range(5):        # invoiced in the last hours, at 20-60 s latency
        await seed_order(pool, 2000 + n, "invoiced", changed=NOW - timedelta(minutes=5 + 7 * n),
                         invoiced_after_s=20 + 10 * n)
    await seed_order(pool, 3001, "invoiced", shop=SHOP2, changed=NOW - timedelta(minutes=30), invoiced_after_s=90)
    await seed_order(pool, 3002, "invoiced", shop=SHOP2, changed=NOW - timedelta(days=3), invoiced_after_s=600)
    await seed_letter(pool, 1)
    await seed_letter(pool, 2)
    status, text, _ = await (await logged_in(console)).get("/")
    assert status == 200
    needs = dict((label, int(n)) for n, label in re.findall(r"<strong>(\d+)</strong> ([^<]+)</a>", text))
    assert needs == {"pending orders": 1, "dead orders": 1, "waiting for stock": 1, "dead letters not replayed": 2,
                     "orders changed in Heartland by staff (drift)": 0, "shops missing webhook subscriptions": 0,
                     "Heartland accounts refusing their token": 0}
    table = text[text.index('<table class="counts">'):text.index("</table>")]
    shop_row = re.search(rf"<th scope=\"row\">{re.escape(SHOP)}</th>(.*?)</tr>", table, re.S).group(1)
    headers = re.findall(r"<th title=\"[^\"]*\">(\w+)</th>", table)
    cells = [int(c) for c in re.findall(r"<td>(\d+)</td>", shop_row)]
    assert dict(zip([*headers, "all"], cells)) == {"invoiced": 5, "waiting_stock": 1, "pending": 1, "dead": 1, "all": 8}
    assert text.count("<svg") == 3
    per_minute, hours, days = text.split("<svg")[1:]
    for chart in (per_minute, hours):
        assert f'data-series="{SHOP}"' in chart and f'data-series="{SHOP2}"' in chart
    # The 3-day-old order is only on the 14-day chart.
    assert ": 600 seconds" not in hours and ": 600 seconds" in days
    day_points = re.findall(rf"<title>{re.escape(SHOP2)} [^:]+:\d\dZ: ([\d.]+) seconds</title>", days)
    assert sorted(float(x) for x in day_points) == [90.0, 600.0]
    minute_points = re.findall(rf'data-series="{re.escape(SHOP)}"[^>]*points="([^"]+)"', per_minute)[0].split()
    assert len(minute_points) >= 180          # every minute of 3 hours drawn, zeros included


async def test_overview_of_an_empty_database_says_so_in_the_charts(console):
    status, text, _ = await (await logged_in(console)).get("/")
    assert status == 200 and "no order invoiced in the last 3 hours" in text
    assert re.findall(r"<strong>(\d+)</strong>", text) == ["0"] * 7


async def test_a_queue_lists_orders_longest_waiting_first_with_reason_sentence_and_age(console, pool):
    await seed_order(pool, 1001, "pending", reasons=UNKNOWN_ITEM, changed=NOW - timedelta(hours=3))
    await seed_order(pool, 1002, "pending", reasons=[{"code": "total_mismatch", "message": "off by 0.01"}],
                     changed=NOW - timedelta(minutes=2))
    await seed_order(pool, 1003, "pending", shop=SHOP2, reasons=UNKNOWN_ITEM, changed=NOW - timedelta(days=2))
    await seed_order(pool, 1004, "dead")
    b = await logged_in(console)
    status, text, _ = await b.get("/queues?kind=pending")
    found = rows(text, "order-row")
    assert status == 200 and len(found) == 3
    assert ["#1003" in found[0], "#1001" in found[1], "#1002" in found[2]] == [True, True, True]
    assert REASONS["unknown_item"].means in found[1] and "no Heartland item for SKU-9" in found[1]
    assert "3 h 00 min" in found[1] and "2 d 0 h" in found[0] and "2 min" in found[2]
    # by shop
    _, text, _ = await b.get(f"/queues?kind=pending&shop={SHOP2}")
    assert [("#1003" in r) for r in rows(text, "order-row")] == [True]
    # by reason
    _, text, _ = await b.get("/queues?kind=pending&reason=unknown_item")
    assert len(rows(text, "order-row")) == 2 and "#1002" not in text
    # by age
    _, text, _ = await b.get("/queues?kind=pending&age=1h")
    assert len(rows(text, "order-row")) == 2 and "#1002" not in text
    _, text, _ = await b.get("/queues?kind=pending&age=1d&shop=" + SHOP)
    assert rows(text, "order-row") == [] and "Nothing here for this filter" in text
    # the other queues
    _, text, _ = await b.get("/queues?kind=dead")
    assert len(rows(text, "order-row")) == 1 and "#1004" in text
    _, text, _ = await b.get("/queues?kind=failed")
    assert rows(text, "order-row") == []
    # bad filters are refused, not guessed
    assert (await b.get("/queues?kind=pending&reason=made_up"))[0] == 400
    assert (await b.get("/queues?kind=pending&age=3w"))[0] == 400
    assert (await b.get("/queues?kind=nope"))[0] == 404


async def test_the_dead_letter_queue_filters_by_reason_and_age_and_hides_replayed_ones(console, pool):
    await seed_letter(pool, 1, "invalid_json", age_s=7200)
    await seed_letter(pool, 2, "no_order_id", age_s=60)
    replayed = await seed_letter(pool, 3, "invalid_json", age_s=60)
    await pool.execute("UPDATE dead_letters SET replayed_at = now() WHERE id = $1", replayed)
    b = await logged_in(console, "alice")
    _, text, _ = await b.get("/queues?kind=dead-letters")
    assert len(rows(text, "letter-row")) == 2 and "Expecting property name" in text and ">Replay<" in text
    _, text, _ = await b.get("/queues?kind=dead-letters&reason=no_order_id")
    assert len(rows(text, "letter-row")) == 1
    _, text, _ = await b.get("/queues?kind=dead-letters&age=1h")
    assert len(rows(text, "letter-row")) == 1 and "invalid_json" in text
    _, text, _ = await b.get("/queues?kind=dead-letters&resolved=1")
    assert len(rows(text, "letter-row")) == 3 and "Replay again" in text


async def _seed_life(pool):
    """An order with two events, three Heartland calls (one refused), a document and a state change."""
    mirror = {"order_id": 17, "status": "pending", "customer_id": 5, "tax_total": "20.00", "shipping_charge": "7.50",
              "lines": [{"id": 55, "shopify_line_id": 100101, "item_id": 2, "qty": 2, "unit_price": "111.00",
                         "original_price": "116.00", "location_id": 3}],
              "payments": [{"id": 9, "amount": "100.00", "payment_type_id": 4}]}
    payload = await seed_order(pool, 1001, "dead", attempts=12, last_error="Heartland said: total does not match",
                               reasons=[{"code": "heartland_refused", "message": "422 on set_status"}],
                               mirror=mirror, heartland_order_id=17)
    ev = ("INSERT INTO events (shop, order_id, topic, dedupe_key, kafka_topic, kafka_partition, kafka_offset, "
          "payload, received_at) VALUES ($1, 1001, $2, $3, 'shopify.orders', 1, $4, '{}'::jsonb, $5)")
    await pool.execute(ev, SHOP, "orders/create", "webhook:w-1", 10, NOW - timedelta(minutes=20))
    await pool.execute(ev, SHOP, "orders/updated", "webhook:w-2", 11, NOW - timedelta(minutes=19))
    j = ("INSERT INTO journal (shop, order_id, action, fingerprint, request, status, heartland_id, http_status, "
         "response, error, sent_at) VALUES ($1, 1001, $2, 'fp', $3, $4, $5, $6, $7, $8, $9)")
    await pool.execute(j, SHOP, "create_order", {"action": "create_order", "public_id": "#1001",
                       "fields": {"customer_id": 5, "source_location_id": 1}}, "ok", 17, 201,
                       {"id": 17, "public_id": "#1001"}, None, NOW - timedelta(minutes=18))
    await pool.execute(j, SHOP, "set_status", {"action": "set_status", "order_id": 17, "status": "open"},
                       "failed", None, 422, {"errors": {"total": ["does not match payments"]}},
                       "Heartland said: total does not match", NOW - timedelta(minutes=17))
    await pool.execute("INSERT INTO heartland_documents (shop, order_id, kind, heartland_id, public_id, created_at) "
                       "VALUES ($1, 1001, 'order', 17, '#1001', $2)", SHOP, NOW - timedelta(minutes=18))
    await pool.execute("INSERT INTO order_history (shop, order_id, kind, from_state, to_state, detail, at) "
                       "VALUES ($1, 1001, 'state', 'creating', 'dead', $2, $3)", SHOP,
                       {"reasons": [{"code": "heartland_refused", "message": "422 on set_status"}]},
                       NOW - timedelta(minutes=17))
    return payload


async def test_an_order_page_has_its_timeline_calls_documents_and_both_sides_numbers(console, pool):
    payload = await _seed_life(pool)
    b = await logged_in(console)
    status, text, _ = await b.get(f"/orders/{SHOP}/1001")
    assert status == 200
    assert REASONS["heartland_refused"].means in text and "422 on set_status" in text
    timeline = re.findall(r'<tr class="tl-(\w+)">', text)
    assert timeline == ["event", "event", "heartland", "created", "heartland", "state"]
    assert "orders/create" in text and "webhook:w-2" in text and "creating → dead" in text
    # each call with its request and Heartland's answer
    calls = re.findall(r'<details class="call">(.*?)</details>', text, re.S)
    assert len(calls) == 2
    assert "set_status → failed 422" in calls[1] and "&#34;does not match payments&#34;" in calls[1]
    assert "&#34;status&#34;: &#34;open&#34;" in calls[1]
    # documents, with a link to the order in the account's API
    assert "order 17 <code>#1001</code>" in text and "/acme/api/sales/orders/17" in text
    # Shopify and Heartland side by side
    compare = re.findall(r'<table class="compare">(.*?)</table>', text, re.S)
    totals = {k: (s, h) for k, s, h in re.findall(
        r"<th scope=\"row\">([\w ]+)</th><td>([\d.-]+)</td><td>([\d.-]+|-)</td>", compare[0])}
    assert totals["total"] == (payload["current_total_price"], "249.50")     # 2 × 111 + 20 tax + 7.50 shipping
    assert totals["payments less refunds"][1] == "100.00"
    assert "differs" in compare[0]
    assert "SKU-0002" in compare[1] and "SKU-0003" in compare[1]
    assert "(payment type 4)" in compare[2]
    # a viewer sees no buttons, but may look at the dry run
    assert "Retry now" not in text and f"/orders/{SHOP}/1001/plan" in text


async def test_an_order_can_be_found_by_its_name_and_an_unknown_one_is_404(console, pool):
    await seed_order(pool, 1001, "pending")
    b = await logged_in(console)
    status, text, _ = await b.get(f"/orders/{SHOP}/%231001")
    assert status == 200 and "(id 1001)" in text
    assert (await b.get(f"/orders/{SHOP}/999"))[0] == 404


async def test_the_dry_run_page_reads_the_sandbox_and_writes_nothing(serve_console, db_url, pool, sandbox_url):
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{sandbox_url}/_sandbox/reset") as r:
            r.raise_for_status()
    browser = await serve_console(console_config(db_url, sandbox_url))
    await pool.execute("INSERT INTO orders (shop, order_id, order_name, snapshot, snapshot_updated_at, due_seq) "
                       "VALUES ($1, 1001, '#1001', $2, now(), 1)", SHOP, _payload())
    before = [dict(r) for r in await pool.fetch("SELECT * FROM orders")]
    b = browser()
    await b.login("victor")
    status, text, _ = await b.get(f"/orders/{SHOP}/1001/plan")
    assert status == 200, text
    assert "Nothing was sent and nothing was written" in text
    assert "+ create customer" in text or "+ create order" in text
    assert "sales order" in text
    assert [dict(r) for r in await pool.fetch("SELECT * FROM orders")] == before
    assert await pool.fetchval("SELECT count(*) FROM journal") == 0


def _payload() -> dict:
    return order_payload(OrderSpec(1001, 1001, [LineSpec("SKU-0002", 2, Decimal("116.00"), Decimal("10.00"))]))
