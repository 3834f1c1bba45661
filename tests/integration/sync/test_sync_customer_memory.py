"""A returning buyer is recalled from Postgres (no customer search, no address listing); when Heartland
no longer has the remembered customer, the order still goes through on a customer found or made anew."""
from __future__ import annotations

from decimal import Decimal

from mortard.testing.shopify import LineSpec, OrderSpec, order_payload, webhook
from stack import SHOP, Stack


def order(order_id: int) -> OrderSpec:
    return OrderSpec(order_id, order_id, [LineSpec("SKU-0002", 1, Decimal("116.00"))], shipping=Decimal("7.50"),
                     email="returning.buyer@example.com", first_name="Ret", last_name="Buyer")


async def calls(stack: Stack, route: str) -> int:
    counts = (await stack.control("GET", "requests"))["acme"]["requests"]
    return sum(counts.get(route, {}).values())


async def test_a_returning_buyer_costs_no_lookup_and_a_forgotten_one_is_searched_again(make):
    stack = await make()
    await stack.set_stock([{"item": "SKU-0002", "location": "S01", "on_hand": 10}])
    await stack.start_daemon()
    await stack.send([webhook("orders/create", SHOP, order_payload(order(3001)))])
    (first,) = await stack.wait_settled(1)
    assert first["sync_state"] == "invoiced"
    remembered = await stack.pool.fetchrow("SELECT customer_id, addresses FROM customer_memory")
    customer = (await stack.state())["orders"][0]["customer_id"]
    assert remembered["customer_id"] == customer and len(remembered["addresses"]) == 1
    searches = await calls(stack, "GET /api/customers")
    listings = await calls(stack, "GET /api/customers/{id}/addresses")
    added = await calls(stack, "POST /api/customers/{id}/addresses")

    await stack.send([webhook("orders/create", SHOP, order_payload(order(3002)))])
    rows = await stack.wait_settled(2)
    assert [r["sync_state"] for r in rows] == ["invoiced", "invoiced"]
    orders = {o["public_id"]: o for o in (await stack.state())["orders"]}
    assert orders["#3002"]["customer_id"] == customer
    assert orders["#3002"]["shipping_address_id"] == orders["#3001"]["shipping_address_id"]
    assert await calls(stack, "GET /api/customers") == searches          # recalled, not searched
    assert await calls(stack, "GET /api/customers/{id}/addresses") == listings
    assert await calls(stack, "POST /api/customers/{id}/addresses") == added
    assert len((await stack.state())["customers"]) == len({o["customer_id"] for o in orders.values()})

    # Heartland loses the customer (the sandbox back to its fixture): the recalled id is refused,
    # forgotten, and the buyer searched and created again.
    await stack.control("POST", "reset", {})
    await stack.set_stock([{"item": "SKU-0002", "location": "S01", "on_hand": 10}])
    await stack.send([webhook("orders/create", SHOP, order_payload(order(3003)))])
    rows = await stack.wait_settled(3)
    assert rows[2]["sync_state"] == "invoiced", dict(rows[2])
    (third,) = (await stack.state())["orders"]
    assert third["public_id"] == "#3003"
    again = await stack.pool.fetchrow("SELECT customer_id FROM customer_memory")
    assert again["customer_id"] == third["customer_id"]
    assert await calls(stack, "GET /api/customers") >= 1   # searched after the refusal
    refused = await stack.pool.fetch("SELECT action, http_status FROM journal WHERE order_id = 3003 AND status = 'failed'")
    assert [(r["action"], r["http_status"]) for r in refused] == [("create_order", 422)]
