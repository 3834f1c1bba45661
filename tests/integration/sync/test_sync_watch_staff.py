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
from stack import SHOP, TOKENS, Stack

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


async def test_staff_opening_the_order_themselves_is_finished_too(make):
    stack = await make(daemon=WATCH, shop_settings={"custom_fields": {}})
    await stack.api("PUT", "custom_fields/1", {"required": True})
    o = await pending_order(stack, 3103, "required_custom_field")
    await stack.api("PUT", f"sales/orders/{o['id']}", {"custom": {"shopify_order_id": "x"}, "status": "open"})
    await wait_state(stack, 3103, "invoiced")
    assert (await stack.api("GET", f"sales/orders/{o['id']}"))["custom"]["shopify_order_id"] == "x"


async def test_a_staff_payment_shopify_does_not_know_is_left_and_recorded(make):
    stack = await make(daemon=WATCH)
    o = await pending_order(stack, 3104, "total_mismatch", paid=False)
    (ptype,) = [p for p in (await stack.api("GET", "payment_types"))["results"] if p["name"] == "Shopify"]
    body = {"type": "CustomPayment", "deposit": True, "amount": o["total"], "payment_type_id": ptype["id"]}
    async with stack.http.post(f"{stack.sandbox_url}/acme/api/sales/orders/{o['id']}/payments",
                               data=_json.dumps(body), headers={"Authorization": f"Bearer {TOKENS['ACME_TOKEN']}",
                                                                "Content-Type": "application/json"}) as r:
        assert r.status == 201, await r.text()
    await stack.api("PUT", f"sales/orders/{o['id']}", {"status": "open"})
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 10
    while not await drift(stack, 3104):
        assert loop.time() < deadline, "no drift recorded"
        await asyncio.sleep(0.1)
    await asyncio.sleep(INTERVAL * 2)
    (d,) = await drift(stack, 3104)
    assert d["kind"] == "staff_disagrees" and d["detail"]["status"] == ["pending", "open"]
    assert [p["added"] for p in d["detail"]["payments"]] == [str(o["total"])]
    row = await stack.order(3104)
    assert row["sync_state"] == "pending"
    payments = (await stack.api("GET", f"sales/orders/{o['id']}/payments"))["results"]
    assert [Decimal(str(p["amount"])) for p in payments] == [Decimal(str(o["total"]))]   # nothing refunded
    assert (await stack.api("GET", f"sales/orders/{o['id']}"))["status"] == "open"


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


async def test_a_discount_staff_add_to_balance_a_refunded_open_order_is_left_intact(make):
    """Cause 3 (a refund hit an open order): staff balance it with a discount. The Heartland reads
    mortard uses carry no discounts, so it can't finish the order; it sends nothing against it."""
    stack = await make(daemon=WATCH, shop_settings={"auto_invoice": False})
    await stack.set_stock([{"item": SKU, "location": "S01", "on_hand": 5}])
    await stack.start_daemon()
    spec = OrderSpec(3107, 3107, [LineSpec(SKU, 1, Decimal("20.00"))])
    await stack.send([webhook("orders/create", SHOP, order_payload(spec))])
    await wait_state(stack, 3107, "open")
    refund = refund_payload(spec, 9107, {}, amount=Decimal("5.00"))
    await stack.send([webhook("refunds/create", SHOP, refund),
                      webhook("orders/updated", SHOP, order_payload(spec, refunds=[refund]))])
    row = await wait_state(stack, 3107, "pending")
    assert [r["code"] for r in row["pending_reasons"]] == ["refund_on_open_order"]
    (o,) = (await stack.api("GET", "sales/orders"))["results"]
    payments_before = (await stack.api("GET", f"sales/orders/{o['id']}/payments"))["results"]
    body = {"description": "goodwill, by staff", "amount": Decimal("5.00")}
    async with stack.http.post(f"{stack.sandbox_url}/acme/api/sales/orders/{o['id']}/discounts",
                               data=_json.dumps(body), headers={"Authorization": f"Bearer {TOKENS['ACME_TOKEN']}",
                                                                "Content-Type": "application/json"}) as r:
        assert r.status == 201, await r.text()
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 10
    while not await drift(stack, 3107):
        assert loop.time() < deadline, "no drift recorded"
        await asyncio.sleep(0.1)
    await asyncio.sleep(INTERVAL * 2)
    await wait_state(stack, 3107, "pending")
    assert [d["kind"] for d in await drift(stack, 3107)] == ["staff_fixed"]   # re-planned once, still pending
    assert (await stack.api("GET", f"sales/orders/{o['id']}/payments"))["results"] == payments_before
    assert [d["amount"] for d in (await stack.api("GET", f"sales/orders/{o['id']}/discounts"))["results"]] == [
        Decimal("5.00")]
    assert (await stack.api("GET", f"sales/orders/{o['id']}"))["status"] == "open"
