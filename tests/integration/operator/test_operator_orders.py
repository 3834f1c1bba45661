"""`mortard orders list|show|retry` on orders seeded straight into Postgres."""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import asyncpg

from mortard.testing.shopify import LineSpec, OrderSpec, order_payload
from mortard.store.orders import OrderStore
from stack import SHOP, SHOP2

T = datetime(2026, 11, 27, 14, 0, tzinfo=timezone.utc)


async def seed_order(pool: asyncpg.Pool, order_id: int, state: str, *, shop: str = SHOP, attempts: int = 0,
                     reasons: list[dict[str, str]] | None = None, last_error: str | None = None,
                     changed: datetime = T, heartland_order_id: int | None = None, due: bool = False) -> dict:
    spec = OrderSpec(order_id, order_id, [LineSpec("SKU-0002", 2, Decimal("116.00"), Decimal("10.00")),
                                          LineSpec("SKU-0003", 1, Decimal("24.00"))], shipping=Decimal("7.50"))
    payload = order_payload(spec)
    await pool.execute(
        "INSERT INTO orders (shop, order_id, order_name, snapshot, snapshot_updated_at, sync_state, state_changed_at, "
        "attempts, pending_reasons, last_error, heartland_order_id, heartland_account, due_seq, done_seq, first_event_at) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, 'acme', $12, 1, $5)",
        shop, order_id, spec.name, payload, datetime.fromisoformat(payload["updated_at"]), state, changed, attempts,
        reasons or [], last_error, heartland_order_id, 2 if due else 1)
    return payload


async def seed_timeline(pool: asyncpg.Pool, order_id: int) -> None:
    """An order's life: two events (one stale), three Heartland calls (one failed), documents, states."""
    ev = ("INSERT INTO events (shop, order_id, topic, dedupe_key, kafka_topic, kafka_partition, kafka_offset, stale, "
          "payload, received_at) VALUES ($1, $2, $3, $4, 'shopify.orders', 1, $5, $6, '{}'::jsonb, $7)")
    await pool.execute(ev, SHOP, order_id, "orders/create", "webhook:w-1", 10, False, T)
    await pool.execute(ev, SHOP, order_id, "orders/updated", "webhook:w-2", 11, True, T + timedelta(seconds=9))
    j = ("INSERT INTO journal (shop, order_id, action, fingerprint, request, status, heartland_id, http_status, error, "
         "sent_at, finished_at) VALUES ($1, $2, $3, 'fp', $4, $5, $6, $7, $8, $9, $9)")
    await pool.execute(j, SHOP, order_id, "create_order", {"action": "create_order", "public_id": "#1001",
                       "fields": {"customer_id": 5, "source_location_id": 1, "shipping_charge": "7.50"}},
                       "ok", 17, 201, None, T + timedelta(seconds=1))
    await pool.execute(j, SHOP, order_id, "add_line", {"action": "add_line", "order_id": 17,
                       "shopify_line_id": order_id * 100 + 1, "item_id": 2, "qty": 2, "unit_price": "111.00",
                       "original_price": "116.00", "location_id": 3, "description": ""},
                       "ok", 55, 201, None, T + timedelta(seconds=2))
    await pool.execute(j, SHOP, order_id, "set_status", {"action": "set_status", "order_id": 17, "status": "open"},
                       "failed", None, 422, "Heartland said: total does not match payments", T + timedelta(seconds=3))
    await pool.execute("INSERT INTO heartland_documents (shop, order_id, kind, heartland_id, public_id, created_at) "
                       "VALUES ($1, $2, 'order', 17, '#1001', $3)", SHOP, order_id, T + timedelta(seconds=1))
    h = ("INSERT INTO order_history (shop, order_id, kind, from_state, to_state, detail, at) "
         "VALUES ($1, $2, 'state', $3, $4, $5, $6)")
    await pool.execute(h, SHOP, order_id, "received", "dead",
                       {"reasons": [{"code": "heartland_refused", "message": "Heartland said: total does not match"}],
                        "error": "422"}, T + timedelta(seconds=4))


async def test_list_shows_orders_with_state_reasons_and_errors_as_a_table(make_ops, pool):
    ops = await make_ops()
    await seed_order(pool, 1001, "pending", reasons=[{"code": "unknown_item", "message": "no Heartland item for SKU-9"}],
                     changed=T + timedelta(minutes=2))
    await seed_order(pool, 1002, "dead", attempts=12, last_error="HeartlandServerError: 503", changed=T + timedelta(minutes=1))
    await seed_order(pool, 1003, "invoiced", heartland_order_id=17, changed=T)
    code, out, err = await ops.run("orders", "list")
    assert code == 0 and err == ""
    lines = out.splitlines()
    assert lines[0].split() == ["SHOP", "ORDER", "ID", "STATE", "SINCE", "ATTEMPTS", "REASONS", "LAST", "ERROR"]
    assert set(lines[1]) <= {"-", " "}
    body = lines[2:5]
    assert [ln.split()[1] for ln in body] == ["#1001", "#1002", "#1003"]     # newest state change first
    assert "unknown_item: no Heartland item for SKU-9" in body[0]
    assert "dead" in body[1] and "HeartlandServerError: 503" in body[1] and " 12 " in body[1]
    assert "2026-11-27 14:02:00Z" in body[0]
    # columns line up: every row has STATE where the header has it
    col = lines[0].index("STATE")
    assert [ln[col:].split()[0] for ln in body] == ["pending", "dead", "invoiced"]
    assert "3 shown of 3" in out and "dead 1" in out


async def test_list_filters_by_state_and_shop_and_prints_json(make_ops, pool):
    ops = await make_ops()
    await seed_order(pool, 1001, "pending", reasons=[{"code": "total_mismatch", "message": "order total 1 != 2"}])
    await seed_order(pool, 1002, "dead", last_error="boom")
    await seed_order(pool, 2001, "dead", shop=SHOP2)
    doc = await ops.json("orders", "list", "--state", "dead")
    assert sorted((o["shop"], o["order_id"]) for o in doc["orders"]) == [(SHOP, 1002), (SHOP2, 2001)]
    doc = await ops.json("orders", "list", "--state", "dead", "--shop", SHOP)
    (o,) = doc["orders"]
    assert o == {**o, "order_name": "#1002", "state": "dead", "last_error": "boom", "attempts": 0, "reasons": []}
    assert isinstance(o["since"], str) and datetime.fromisoformat(o["since"]).tzinfo is not None
    doc = await ops.json("orders", "list", "--state", "pending")
    assert doc["orders"][0]["reasons"] == [{"code": "total_mismatch", "message": "order total 1 != 2"}]
    assert doc["counts"] == {"dead": 2, "pending": 1}
    doc = await ops.json("orders", "list", "--limit", "1")
    assert len(doc["orders"]) == 1


async def test_list_refuses_an_unknown_state_with_one_line(make_ops, pool):
    ops = await make_ops()
    code, out, err = await ops.run("orders", "list", "--state", "pendng")
    assert code == 1 and out == ""
    assert err.count("\n") == 1 and err.startswith("mortard: unknown state 'pendng'")


async def test_show_merges_events_calls_documents_and_states_into_one_timeline(make_ops, pool):
    ops = await make_ops()
    await seed_order(pool, 1001, "dead", attempts=3, heartland_order_id=17, last_error="422 from Heartland",
                     reasons=[{"code": "heartland_refused", "message": "Heartland said: total does not match"}])
    await seed_timeline(pool, 1001)
    code, out, err = await ops.run("orders", "show", SHOP, "#1001")
    assert code == 0, err
    assert "order:" in out and "#1001 (id 1001) of acme-store.myshopify.com" in out
    assert "dead since" in out and "heartland_refused: Heartland said: total does not match" in out
    assert "account acme: order 17" in out
    rows = out[out.index("TIME"):].splitlines()[2:]
    what = [r.split()[2] for r in rows]
    assert what == ["event", "heartland", "created", "heartland", "heartland", "state", "event"]
    text = "\n".join(rows)
    assert "+ create order #1001 at location 1 for customer 5, shipping 7.50  → ok 201, id 17" in text
    assert "+ add line SKU-0002 × 2 at location 3 @ 111.00 (list 116.00)  → ok 201, id 55" in text
    assert "~ set status open  → failed 422: Heartland said: total does not match payments" in text
    assert "received → dead" in text and "orders/updated  webhook:w-2" in text and "STALE" in text

    by_id = await ops.json("orders", "show", SHOP, "1001")
    assert by_id["order"]["order_name"] == "#1001" and by_id["order"]["heartland"]["order_id"] == 17
    assert [e["dedupe_key"] for e in by_id["events"]] == ["webhook:w-1", "webhook:w-2"]
    assert [e["stale"] for e in by_id["events"]] == [False, True]
    assert [(j["action"], j["status"], j["http_status"], j["heartland_id"]) for j in by_id["journal"]] == [
        ("create_order", "ok", 201, 17), ("add_line", "ok", 201, 55), ("set_status", "failed", 422, None)]
    assert by_id["journal"][1]["request"]["unit_price"] == "111.00"
    assert [(d["kind"], d["heartland_id"]) for d in by_id["documents"]] == [("order", 17)]
    assert [(h["from_state"], h["to_state"]) for h in by_id["history"]] == [("received", "dead")]
    by_bare_name = await ops.json("orders", "show", SHOP, "1001")
    assert by_bare_name == by_id


async def test_show_of_an_unknown_order_exits_1_with_one_line(make_ops, pool):
    ops = await make_ops()
    await seed_order(pool, 1001, "open")
    code, out, err = await ops.run("orders", "show", SHOP, "#4242")
    assert code == 1 and out == "" and err.count("\n") == 1
    assert err == f"mortard: no order #4242 in shop {SHOP} (give the Shopify order id or its name, like #1001)\n"
    code, _, err = await ops.run("orders", "show", "nope.myshopify.com", "1001")
    assert code == 1 and "no orders for shop 'nope.myshopify.com'" in err


async def test_retry_makes_a_dead_order_due_now_as_failed_with_no_attempts(make_ops, pool, monkeypatch):
    monkeypatch.setenv("LOGNAME", "alice")         # who asked: the login name (getpass reads LOGNAME first)
    ops = await make_ops()
    await seed_order(pool, 1002, "dead", attempts=12, last_error="gave up")
    before = await pool.fetchrow("SELECT * FROM orders WHERE order_id = 1002")
    store = OrderStore(pool, "daemon-a", 30)
    assert await store.claim_due(10) == []                     # dead and not due: nobody would run it
    code, out, err = await ops.run("orders", "retry", SHOP, "#1002")
    assert code == 0, err
    assert "dead → failed, attempts reset to 0, due now" in out
    after = await pool.fetchrow("SELECT *, next_attempt_at <= now() AS due_now FROM orders WHERE order_id = 1002")
    assert after["sync_state"] == "failed" and after["attempts"] == 0 and after["due_now"]
    assert after["due_seq"] == before["due_seq"] + 1 and after["state_changed_at"] > before["state_changed_at"]
    hist = await pool.fetch("SELECT kind, from_state, to_state, detail FROM order_history WHERE order_id = 1002")
    assert [(h["kind"], h["from_state"], h["to_state"], h["detail"]) for h in hist] == [
        ("state", "dead", "failed", {"action": "operator_retry", "by": "alice (shell)"})]
    assert await store.claim_due(10) == [(SHOP, 1002)]          # a running daemon's sweep takes it now


async def test_retry_of_a_pending_order_keeps_its_state_and_says_so_in_json(make_ops, pool):
    ops = await make_ops()
    await seed_order(pool, 1001, "pending", attempts=2)
    doc = await ops.json("orders", "retry", SHOP, "1001")
    assert doc["from_state"] == doc["to_state"] == "pending" and doc["due_seq"] == 2 and doc["leased_by"] is None
    row = await pool.fetchrow("SELECT attempts, sync_state FROM orders WHERE order_id = 1001")
    assert (row["attempts"], row["sync_state"]) == (0, "pending")
    code, out, err = await ops.run("orders", "retry", SHOP, "#9999")
    assert code == 1 and err.startswith("mortard: no order #9999") and err.count("\n") == 1
    json.dumps(doc)
