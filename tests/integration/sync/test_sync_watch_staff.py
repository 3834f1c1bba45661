"""The watch and staff working in Heartland (through the sandbox's API, as staff's tools would):
pending orders staff fixed are finished without undoing their edits; a fix that disagrees with
Shopify, and any hand edit of an order mortard took there, is recorded as drift and left alone."""
from __future__ import annotations

import argparse
import asyncio
import json
from decimal import Decimal

from mortard.heartland import _json
from mortard.operator.orders import orders_show
from mortard.testing.shopify import LineSpec, OrderSpec, order_payload, refund_payload, webhook
import pytest

from stack import SHOP, TOKENS, Stack, make_stack, start_sandbox

INTERVAL = 1.0
WATCH = {"watch_interval_s": INTERVAL}
SKU = "SKU-0040"


async def pending_order(stack: Stack, order_id: int, code: str, **spec) -> dict:
    await stack.set_stock([{"item": SKU, "location": "S01", "on_hand": 5}])
    await stack.start_daemon()
    await stack.send([webhook("orders/create", SHOP, order_payload(
        OrderSpec(order_id, order_id, [LineSpec(SKU, 1, Decimal("20.00"))], **spec)))])
    (row,) = await stack.wait_settled(1)
    assert row["sync_state"] == "pending" and code in [r["code"] for r in row["pending_reasons"]], dict(row)
    (o,) = (await stack.api("GET", "sales/orders", None))["results"]
    return o


async def wait_state(stack: Stack, order_id: int, state: str, timeout: float = 15) -> dict:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        r = await stack.order(order_id)
        if r is not None and r["sync_state"] == state and r["due_seq"] == r["done_seq"] and r["lease_owner"] is None:
            return dict(r)
        await asyncio.sleep(0.1)
    raise AssertionError(f"order {order_id} is {dict(await stack.order(order_id))}")


async def drift(stack: Stack, order_id: int) -> list[dict]:
    rows = await stack.pool.fetch("SELECT kind, detail FROM order_drift WHERE order_id = $1 ORDER BY id", order_id)
    return [{"kind": r["kind"], "detail": r["detail"] if isinstance(r["detail"], dict) else json.loads(r["detail"])}
            for r in rows]


async def test_staff_filling_a_required_custom_field_lets_mortard_finish_the_order(make):
    stack = await make(daemon=WATCH, shop_settings={"custom_fields": {}})
    await stack.api("PUT", "custom_fields/1", {"required": True})
    o = await pending_order(stack, 3101, "required_custom_field")
    await stack.api("PUT", f"sales/orders/{o['id']}", {"custom": {"shopify_order_id": "typed by staff"}})
    await wait_state(stack, 3101, "invoiced")
    h = await stack.api("GET", f"sales/orders/{o['id']}")
    assert h["status"] == "closed" and h["custom"]["shopify_order_id"] == "typed by staff"
    assert [d["kind"] for d in await drift(stack, 3101)] == ["staff_fixed"]
    assert ("set_status", "ok") in await journaled(stack, 3101)   # opened by the machine, journaled


async def test_a_failed_reopen_of_a_staff_fixed_order_is_tried_again(make):
    """Heartland answers 503 to every PUT of the order while staff's fix is found: the open (the
    machine's journaled set_status) is retried once Heartland answers again, and the order is
    finished with the staff's edit intact; a fix seen once is not forgotten after one failure."""
    stack = await make(daemon=WATCH, shop_settings={"custom_fields": {}})
    await stack.api("PUT", "custom_fields/1", {"required": True})
    o = await pending_order(stack, 3104, "required_custom_field")
    await stack.stop_daemon()
    await stack.api("PUT", f"sales/orders/{o['id']}", {"custom": {"shopify_order_id": "typed by staff"}})
    await stack.control("PUT", "faults", {"accounts": {"acme": {
        "error_rate": 1.0, "error_status": 503, "routes": ["PUT /api/sales/orders/*"]}}})
    await stack.start_daemon()
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 15
    while loop.time() < deadline and not (await stack.state())["requests"].get("PUT /api/sales/orders/{id}", {}).get("503"):
        await asyncio.sleep(0.1)
    assert (await stack.state())["requests"]["PUT /api/sales/orders/{id}"].get("503")
    assert (await stack.order(3104))["sync_state"] != "invoiced"
    await stack.control("PUT", "faults", {"accounts": {"acme": {"error_rate": 0.0, "routes": []}}})
    await wait_state(stack, 3104, "invoiced", timeout=60)
    h = await stack.api("GET", f"sales/orders/{o['id']}")
    assert h["status"] == "closed" and h["custom"]["shopify_order_id"] == "typed by staff"


async def test_staff_adding_an_address_lets_mortard_finish_the_order(make):
    stack = await make(daemon=WATCH)
    o = await pending_order(stack, 3102, "missing_addresses", addresses="none")
    address = {"first_name": "Pat", "last_name": "Buyer", "line_1": "1 Staff Rd", "city": "Springfield",
               "state": "IL", "postal_code": "62701", "country": "US"}
    await stack.api("POST", f"customers/{o['customer_id']}/addresses", address)
    (a,) = (await stack.api("GET", f"customers/{o['customer_id']}/addresses"))["results"]
    await stack.api("PUT", f"sales/orders/{o['id']}", {"shipping_address_id": a["id"]})
    await wait_state(stack, 3102, "invoiced")
    h = await stack.api("GET", f"sales/orders/{o['id']}")
    assert h["status"] == "closed" and h["shipping_address_id"] == a["id"]
    assert ("set_status", "ok") in await journaled(stack, 3102)


async def test_staff_opening_the_order_themselves_is_finished_too(make):
    stack = await make(daemon=WATCH, shop_settings={"custom_fields": {}})
    await stack.api("PUT", "custom_fields/1", {"required": True})
    o = await pending_order(stack, 3103, "required_custom_field")
    await stack.api("PUT", f"sales/orders/{o['id']}", {"custom": {"shopify_order_id": "x"}, "status": "open"})
    await wait_state(stack, 3103, "invoiced")
    assert (await stack.api("GET", f"sales/orders/{o['id']}"))["custom"]["shopify_order_id"] == "x"


async def staff_post(stack: Stack, path: str, body: dict) -> None:
    """A POST as staff's tools make it (Decimal amounts kept exact)."""
    async with stack.http.post(f"{stack.sandbox_url}/acme/api/{path}", data=_json.dumps(body),
                               headers={"Authorization": f"Bearer {TOKENS['ACME_TOKEN']}",
                                        "Content-Type": "application/json"}) as r:
        assert r.status == 201, await r.text()


async def journaled(stack: Stack, order_id: int) -> list[tuple[str, str]]:
    rows = await stack.pool.fetch("SELECT action, status FROM journal WHERE order_id = $1 ORDER BY id", order_id)
    return [(r["action"], r["status"]) for r in rows]


async def test_a_payment_staff_add_to_an_unpaid_pending_order_is_kept_and_mortard_finishes_it(make):
    """Cause 1 (total ≠ payments): Shopify has no payment; staff take it in Heartland. The payment is
    Heartland's: mortard neither books it again nor takes it off, opens the order (journaled) and
    invoices it."""
    stack = await make(daemon=WATCH)
    o = await pending_order(stack, 3104, "total_mismatch", paid=False)
    (ptype,) = [p for p in (await stack.api("GET", "payment_types"))["results"] if p["name"] == "Shopify"]
    before = await journaled(stack, 3104)
    await staff_post(stack, f"sales/orders/{o['id']}/payments",
                     {"type": "CustomPayment", "deposit": True, "amount": o["total"], "payment_type_id": ptype["id"]})
    await wait_state(stack, 3104, "invoiced")
    h = await stack.api("GET", f"sales/orders/{o['id']}")
    assert h["status"] == "closed"
    payments = (await stack.api("GET", f"sales/orders/{o['id']}/payments"))["results"]
    assert [Decimal(str(p["amount"])) for p in payments] == [Decimal(str(o["total"]))]   # nothing added or refunded
    (d,) = await drift(stack, 3104)
    assert d["kind"] == "staff_fixed" and [p["added"] for p in d["detail"]["payments"]] == [str(o["total"])]
    # The open went out under the journal like every write (the watch itself sent nothing).
    after = (await journaled(stack, 3104))[len(before):]
    assert after[0] == ("set_status", "ok") and "add_payment" not in [a for a, _ in after], after
    mirror = (await stack.order(3104))["mirror"]
    mirror = mirror if isinstance(mirror, dict) else json.loads(mirror)
    assert [p["by_staff"] for p in mirror["payments"]] == [True]


async def test_staff_corrections_that_disagree_with_shopify_are_left_as_staff_made_them_and_recorded(make):
    """A pending order whose lines staff changed (here: one unit instead of Shopify's two, and the
    payment for that) is not finished nor put back: the difference is drift for the operator."""
    stack = await make(daemon=WATCH)
    await stack.set_stock([{"item": SKU, "location": "S01", "on_hand": 5}])
    await stack.start_daemon()
    await stack.send([webhook("orders/create", SHOP, order_payload(
        OrderSpec(3108, 3108, [LineSpec(SKU, 2, Decimal("20.00"))], paid=False)))])
    (row,) = await stack.wait_settled(1)
    assert row["sync_state"] == "pending"
    (o,) = (await stack.api("GET", "sales/orders"))["results"]
    (line,) = (await stack.api("GET", f"sales/orders/{o['id']}/lines"))["results"]
    before = await journaled(stack, 3108)
    await stack.api("PUT", f"sales/orders/{o['id']}/lines/{line['id']}", {"qty": 1})
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 10
    while not await drift(stack, 3108):
        assert loop.time() < deadline, "no drift recorded"
        await asyncio.sleep(0.1)
    await asyncio.sleep(INTERVAL * 2)
    (d,) = await drift(stack, 3108)
    assert d["kind"] == "staff_disagrees"
    assert d["detail"]["lines"] == [{"line": line["id"], "was": {"qty": 2, "location_id": line["ship_from_location_id"]},
                                     "now": {"qty": 1, "location_id": line["ship_from_location_id"]}}]
    assert (await wait_state(stack, 3108, "pending"))["mirror_dirty"] is False
    (after,) = (await stack.api("GET", f"sales/orders/{o['id']}/lines"))["results"]
    assert after["qty"] == 1 and (await stack.api("GET", f"sales/orders/{o['id']}"))["status"] == "pending"
    assert await journaled(stack, 3108) == before     # nothing sent against it


async def test_a_hand_edit_of_an_order_mortard_opened_is_recorded_shown_and_not_undone(make, capsys):
    stack = await make(daemon=WATCH, shop_settings={"auto_invoice": False})
    await stack.set_stock([{"item": SKU, "location": "S01", "on_hand": 5}])
    await stack.start_daemon()
    await stack.send([webhook("orders/create", SHOP, order_payload(
        OrderSpec(3105, 3105, [LineSpec(SKU, 2, Decimal("20.00"))])))])
    (row,) = await stack.wait_settled(1)
    assert row["sync_state"] == "open"
    (o,) = (await stack.api("GET", "sales/orders"))["results"]
    (line,) = (await stack.api("GET", f"sales/orders/{o['id']}/lines"))["results"]
    await stack.api("PUT", f"sales/orders/{o['id']}/lines/{line['id']}", {"qty": 3})
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 10
    while not await drift(stack, 3105):
        assert loop.time() < deadline, "no drift recorded"
        await asyncio.sleep(0.1)
    await asyncio.sleep(INTERVAL * 2)
    (d,) = await drift(stack, 3105)          # once, not once a pass
    assert d["kind"] == "heartland_edited"
    assert d["detail"]["lines"] == [{"line": line["id"], "was": {"qty": 2, "location_id": line["ship_from_location_id"]},
                                     "now": {"qty": 3, "location_id": line["ship_from_location_id"]}}]
    (after,) = (await stack.api("GET", f"sales/orders/{o['id']}/lines"))["results"]
    assert after["qty"] == 3 and (await stack.order(3105))["sync_state"] == "open"
    assert 'mortard_orders_drift_total{kind="heartland_edited"} 1.0' in stack.daemon.metrics.render().decode()
    await stack.stop_daemon()   # its log lines would mix with the command's output
    capsys.readouterr()
    await orders_show(stack.config, argparse.Namespace(shop=SHOP, order="3105", json=True))
    shown = json.loads(capsys.readouterr().out)
    assert [x["kind"] for x in shown["drift"]] == ["heartland_edited"]
    await orders_show(stack.config, argparse.Namespace(shop=SHOP, order="3105", json=False))
    assert "changed in Heartland by hand" in capsys.readouterr().out


async def test_a_payment_added_by_hand_shows_on_no_header_and_is_found_by_the_sweep(make):
    stack = await make(daemon=WATCH, shop_settings={"auto_invoice": False})
    await stack.set_stock([{"item": SKU, "location": "S01", "on_hand": 5}])
    await stack.start_daemon()
    await stack.send([webhook("orders/create", SHOP, order_payload(
        OrderSpec(3106, 3106, [LineSpec(SKU, 1, Decimal("20.00"))])))])
    (row,) = await stack.wait_settled(1)
    assert row["sync_state"] == "open"
    (o,) = (await stack.api("GET", "sales/orders"))["results"]
    body = {"type": "CustomPayment", "deposit": True, "amount": Decimal("-5.00"), "payment_type_id": 1}
    async with stack.http.post(f"{stack.sandbox_url}/acme/api/sales/orders/{o['id']}/payments",
                               data=_json.dumps(body), headers={"Authorization": f"Bearer {TOKENS['ACME_TOKEN']}",
                                                                "Content-Type": "application/json"}) as r:
        assert r.status == 201, await r.text()
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 10
    while not await drift(stack, 3106):
        assert loop.time() < deadline, "no drift recorded"
        await asyncio.sleep(0.1)
    (d,) = await drift(stack, 3106)
    assert d["kind"] == "heartland_edited" and [p.get("added") for p in d["detail"]["payments"]] == ["-5.00"]
    payments = (await stack.api("GET", f"sales/orders/{o['id']}/payments"))["results"]
    assert sorted(Decimal(str(p["amount"])) for p in payments) == [Decimal("-5.00"), Decimal(str(o["total"]))]


@pytest.fixture(params=[False, True], ids=["discounts-unlisted", "discounts-listed"])
async def discounts(request, db_url, kafka_bootstrap, http, pool):
    """A stack on its own sandbox, with Dialect.order_discounts_listed off (the default) or on, in
    both the sandbox and the daemon."""
    dialect = {"order_discounts_listed": True} if request.param else None
    runner, url = await start_sandbox(dialect=dialect)
    stack = await make_stack(db_url, kafka_bootstrap, http, url, pool, daemon=WATCH, dialect=dialect)
    try:
        yield request.param, stack
    finally:
        await stack.stop_daemon()
        await runner.cleanup()


async def test_a_discount_staff_add_to_balance_a_refunded_open_order(discounts):
    """Cause 3 (a refund hit an open order): a goodwill refund leaves the open order short; staff
    balance it with an order discount while stock arrives. Where Heartland lists discounts mortard
    counts it and finishes the order (auto-invoice on); where it doesn't, mortard can't see why the
    total moved and leaves the order as staff made it. Either way nothing of the staff's is undone."""
    listed, stack = discounts
    await stack.set_stock([{"item": SKU, "location": loc, "on_hand": 0} for loc in ("S01", "S02", "S03")])
    await stack.start_daemon()
    spec = OrderSpec(3107, 3107, [LineSpec(SKU, 1, Decimal("20.00"))])
    await stack.send([webhook("orders/create", SHOP, order_payload(spec))])
    await wait_state(stack, 3107, "waiting_stock")
    refund = refund_payload(spec, 9107, {}, amount=Decimal("5.00"))
    await stack.send([webhook("refunds/create", SHOP, refund),
                      webhook("orders/updated", SHOP, order_payload(spec, refunds=[refund]))])
    row = await wait_state(stack, 3107, "pending")
    assert [r["code"] for r in row["pending_reasons"]] == ["refund_on_open_order"]
    (o,) = (await stack.api("GET", "sales/orders"))["results"]
    payments_before = (await stack.api("GET", f"sales/orders/{o['id']}/payments"))["results"]
    await staff_post(stack, f"sales/orders/{o['id']}/discounts", {"description": "goodwill, by staff",
                                                                 "amount": Decimal("5.00")})
    await stack.set_stock([{"item": SKU, "location": "S01", "on_hand": 1}])
    if listed:
        await wait_state(stack, 3107, "invoiced")
        assert (await stack.api("GET", f"sales/orders/{o['id']}"))["status"] == "closed"
    else:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 10
        while not await drift(stack, 3107):
            assert loop.time() < deadline, "no drift recorded"
            await asyncio.sleep(0.1)
        await asyncio.sleep(INTERVAL * 2)
        await wait_state(stack, 3107, "pending")
        assert (await stack.api("GET", f"sales/orders/{o['id']}"))["status"] == "open"
    assert [d["kind"] for d in await drift(stack, 3107)] == ["staff_fixed"]
    assert (await stack.api("GET", f"sales/orders/{o['id']}/payments"))["results"] == payments_before
    (held,) = [x for x in (await stack.state())["orders"] if x["id"] == o["id"]]
    assert [Decimal(str(d["amount"])) for d in held["discounts"]] == [Decimal("5.00")]
