"""New orders through the real path: Kafka → inbox → sync → sandbox (HTTP) → Postgres."""
from __future__ import annotations

from decimal import Decimal

from mortard.testing.shopify import LineSpec, OrderSpec, order_payload, webhook
from stack import SHOP, Stack

# Fixture locations of account acme: ONLINE (1, order source), S01 (2), S02 (3), S03 (4).
S01, S02, S03 = 2, 3, 4


async def only_stock(stack: Stack, sku: str, **by_location: int) -> None:
    rows = [{"item": sku, "location": loc, "on_hand": by_location.get(loc, 0)} for loc in ("S01", "S02", "S03")]
    await stack.set_stock(rows)


def order(order_id: int, *lines: LineSpec, **kw) -> OrderSpec:
    return OrderSpec(order_id, order_id, list(lines), **kw)


async def test_single_location_order_is_auto_invoiced_and_closed(make):
    stack = await make()
    await only_stock(stack, "SKU-0002", S01=1, S02=5)
    await only_stock(stack, "SKU-0003", S01=0, S02=3)
    await stack.start_daemon()
    spec = order(1001, LineSpec("SKU-0002", 2, Decimal("116.00"), Decimal("10.00")),
                 LineSpec("SKU-0003", 1, Decimal("24.00")), shipping=Decimal("7.50"))
    await stack.send([webhook("orders/create", SHOP, order_payload(spec))])
    rows = await stack.wait_settled(1)
    assert rows[0]["sync_state"] == "invoiced", dict(rows[0])
    assert rows[0]["heartland_order_id"] is not None and rows[0]["invoiced_at"] is not None
    state = await stack.state()
    (o,) = state["orders"]
    assert o["status"] == "closed" and o["public_id"] == "#1001"
    assert o["total"] == Decimal(order_payload(spec)["total_price"]) == o["payments_total"]
    assert {ln["ship_from_location_id"] for ln in o["lines"]} == {S02}   # the one store with everything
    (invoice,) = state["invoices"]
    assert invoice["source_location_id"] == S02 and invoice["status"] == "complete"
    stock = await stack.stock()
    assert stock[("SKU-0002", "S02")]["qty_on_hand"] == 3 and stock[("SKU-0003", "S02")]["qty_on_hand"] == 2
    assert stock[("SKU-0002", "S01")]["qty_on_hand"] == 1
    docs = await stack.pool.fetch("SELECT kind, location_id FROM heartland_documents WHERE order_id = 1001")
    assert sorted((d["kind"], d["location_id"]) for d in docs if d["kind"] in ("order", "invoice")) == [
        ("invoice", S02), ("order", None)]


async def test_a_split_order_gets_one_invoice_per_location(make):
    stack = await make()
    await only_stock(stack, "SKU-0010", S01=4)
    await only_stock(stack, "SKU-0011", S03=4)
    await stack.start_daemon()
    spec = order(1002, LineSpec("SKU-0010", 2, Decimal("30.00")), LineSpec("SKU-0011", 1, Decimal("45.00")))
    await stack.send([webhook("orders/create", SHOP, order_payload(spec))])
    (row,) = await stack.wait_settled(1)
    assert row["sync_state"] == "invoiced"
    state = await stack.state()
    assert sorted(i["source_location_id"] for i in state["invoices"]) == [S01, S03]
    assert state["orders"][0]["status"] == "closed"
    invoices = await stack.pool.fetch("SELECT location_id FROM heartland_documents WHERE kind = 'invoice'")
    assert sorted(r["location_id"] for r in invoices) == [S01, S03]


async def test_a_line_with_no_stock_leaves_the_order_open_waiting_for_staff(make):
    stack = await make()
    await only_stock(stack, "SKU-0020", S02=2)
    await only_stock(stack, "SKU-0021")
    await stack.start_daemon()
    spec = order(1003, LineSpec("SKU-0020", 1, Decimal("30.00")), LineSpec("SKU-0021", 1, Decimal("12.00")))
    await stack.send([webhook("orders/create", SHOP, order_payload(spec))])
    (row,) = await stack.wait_settled(1)
    assert row["sync_state"] == "waiting_stock"
    assert [r["code"] for r in row["pending_reasons"]] == ["no_stock"]
    (o,) = (await stack.state())["orders"]
    assert o["status"] == "open"
    by_item = {ln["item_id"]: ln for ln in o["lines"]}
    assert [ln["ship_from_location_id"] for ln in o["lines"] if ln["qty_invoiced"] == 0] == [None]
    assert sum(ln["qty_invoiced"] for ln in by_item.values()) == 1
    assert len((await stack.state())["invoices"]) == 1


async def test_auto_invoice_off_distributes_and_opens_but_does_not_invoice(make):
    stack = await make(shop_settings={"auto_invoice": False})
    await only_stock(stack, "SKU-0030", S01=3)
    await stack.start_daemon()
    spec = order(1004, LineSpec("SKU-0030", 2, Decimal("20.00")))
    await stack.send([webhook("orders/create", SHOP, order_payload(spec))])
    (row,) = await stack.wait_settled(1)
    assert row["sync_state"] == "open"
    state = await stack.state()
    assert state["orders"][0]["status"] == "open" and state["invoices"] == []
    stock = await stack.stock()
    assert stock[("SKU-0030", "S01")]["qty_committed"] == 2 and stock[("SKU-0030", "S01")]["qty_on_hand"] == 3


async def _assert_pending(stack: Stack, order_id: int, code: str, sku: str = "SKU-0040") -> None:
    (row,) = await stack.wait_settled(1)
    assert row["order_id"] == order_id and row["sync_state"] == "pending", dict(row)
    assert code in [r["code"] for r in row["pending_reasons"]], row["pending_reasons"]
    assert all(r["message"] for r in row["pending_reasons"])
    (o,) = (await stack.state())["orders"]
    assert o["status"] == "pending"
    stock = await stack.stock()
    assert all(r["qty_committed"] == 0 for k, r in stock.items() if k[0] == sku)


async def test_total_not_matching_payments_leaves_the_order_pending(make):
    stack = await make()
    await only_stock(stack, "SKU-0040", S01=5)
    await stack.start_daemon()
    spec = order(1005, LineSpec("SKU-0040", 1, Decimal("20.00")), paid=False)
    await stack.send([webhook("orders/create", SHOP, order_payload(spec))])
    await _assert_pending(stack, 1005, "total_mismatch")


async def test_both_addresses_missing_leaves_the_order_pending(make):
    stack = await make()
    await only_stock(stack, "SKU-0040", S01=5)
    await stack.start_daemon()
    spec = order(1006, LineSpec("SKU-0040", 1, Decimal("20.00")), addresses="none")
    await stack.send([webhook("orders/create", SHOP, order_payload(spec))])
    await _assert_pending(stack, 1006, "missing_addresses")


async def test_a_required_custom_field_left_empty_leaves_the_order_pending(make):
    stack = await make(shop_settings={"custom_fields": {}})
    await stack.api("PUT", "custom_fields/1", {"required": True})   # shopify_order_id, now required
    await only_stock(stack, "SKU-0040", S01=5)
    await stack.start_daemon()
    spec = order(1007, LineSpec("SKU-0040", 1, Decimal("20.00")))
    await stack.send([webhook("orders/create", SHOP, order_payload(spec))])
    await _assert_pending(stack, 1007, "required_custom_field")


async def test_a_custom_field_mapping_from_note_attributes_avoids_pending(make):
    stack = await make(shop_settings={"custom_fields": {"shopify_order_id": "note:Order ref"}})
    await stack.api("PUT", "custom_fields/1", {"required": True})
    await only_stock(stack, "SKU-0040", S01=5)
    await stack.start_daemon()
    spec = order(1008, LineSpec("SKU-0040", 1, Decimal("20.00")), note_attributes={"Order ref": "WEB-1008"})
    await stack.send([webhook("orders/create", SHOP, order_payload(spec))])
    (row,) = await stack.wait_settled(1)
    assert row["sync_state"] == "invoiced", row["pending_reasons"]
    assert (await stack.state())["orders"][0]["custom"]["shopify_order_id"] == "WEB-1008"


async def test_an_unknown_sku_leaves_the_order_pending(make):
    stack = await make()
    await only_stock(stack, "SKU-0040", S01=5)
    await stack.start_daemon()
    spec = order(1009, LineSpec("SKU-0040", 1, Decimal("20.00")), LineSpec("NO-SUCH-SKU", 1, Decimal("5.00")))
    await stack.send([webhook("orders/create", SHOP, order_payload(spec))])
    await _assert_pending(stack, 1009, "unknown_item")


async def test_test_orders_and_ignored_tags_are_recorded_as_ignored(make):
    stack = await make(shop_settings={"tag_ignore": ["wholesale"]})
    await stack.start_daemon()
    a = order(1010, LineSpec("SKU-0040", 1, Decimal("20.00")), test=True)
    b = order(1011, LineSpec("SKU-0040", 1, Decimal("20.00")), tags=["wholesale"])
    await stack.send([webhook("orders/create", SHOP, order_payload(a)), webhook("orders/create", SHOP, order_payload(b))])
    rows = await stack.wait_settled(2)
    assert [(r["order_id"], r["sync_state"]) for r in rows] == [(1010, "ignored"), (1011, "ignored")]
    assert (await stack.state())["orders"] == []


async def test_two_hundred_orders_racing_for_scarce_stock_never_oversell(make):
    stack = await make(daemon={"max_orders_in_flight": 64})
    await only_stock(stack, "SKU-0050", S01=20, S02=15, S03=15)
    await stack.start_daemon()
    hooks = [webhook("orders/create", SHOP, order_payload(order(2000 + i, LineSpec("SKU-0050", 1, Decimal("10.00")))))
             for i in range(200)]
    await stack.send(hooks)
    rows = await stack.wait_settled(200, timeout=120)
    states = [r["sync_state"] for r in rows]
    assert states.count("invoiced") == 50 and states.count("waiting_stock") == 150, {s: states.count(s) for s in set(states)}
    stock = await stack.stock()
    for loc in ("S01", "S02", "S03"):
        r = stock[("SKU-0050", loc)]
        assert r["qty_on_hand"] == 0 and r["qty_committed"] == 0 and r["qty_available"] == 0
    state = await stack.state()
    assert len(state["orders"]) == 200 and len({o["public_id"] for o in state["orders"]}) == 200
    assert len(state["invoices"]) == 50
