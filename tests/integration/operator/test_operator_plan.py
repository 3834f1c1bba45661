"""`mortard orders plan`: a dry run against the sandbox that reads Heartland and writes nothing anywhere."""
from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import aiohttp
import asyncpg

from mortard.app import heartland_account
from mortard.testing.shopify import LineSpec, OrderSpec, order_payload
from mortard.heartland import HeartlandClient
from mortard.heartland.gateway import HeartlandGateway
from mortard.store.orders import OrderStore
from mortard.sync.machine import OrderMachine, ShopRuntime
from stack import SHOP

TABLES = ("shops", "events", "orders", "order_lines", "heartland_documents", "journal", "order_history", "dead_letters")
SPEC = OrderSpec(1001, 1001, [LineSpec("SKU-0002", 2, Decimal("116.00"), Decimal("10.00")),
                              LineSpec("SKU-0003", 1, Decimal("24.00"))], shipping=Decimal("7.50"))


async def insert_order(pool: asyncpg.Pool, spec: OrderSpec = SPEC) -> dict[str, Any]:
    payload = order_payload(spec)
    await pool.execute(
        "INSERT INTO orders (shop, order_id, order_name, snapshot, snapshot_updated_at, due_seq) "
        "VALUES ($1, $2, $3, $4, now(), 1)", SHOP, spec.order_id, spec.name, payload)
    return payload


async def set_stock(http: aiohttp.ClientSession, sandbox: str, **by_sku: dict[str, int]) -> None:
    rows = [{"item": sku, "location": loc, "on_hand": qty} for sku, locs in by_sku.items() for loc, qty in locs.items()]
    async with http.put(f"{sandbox}/_sandbox/accounts/acme/inventory", json=rows) as r:
        r.raise_for_status()


async def db_dump(pool: asyncpg.Pool) -> dict[str, list[dict[str, Any]]]:
    return {t: [dict(r) for r in await pool.fetch(f"SELECT * FROM {t} ORDER BY 1")] for t in TABLES}


async def sandbox_state(http: aiohttp.ClientSession, sandbox: str) -> tuple[dict[str, Any], dict[str, int]]:
    """Every account's records, and the count of mutating requests per route."""
    async with http.get(f"{sandbox}/_sandbox/state") as r:
        data = json.loads(await r.text())
    records, writes = {}, {}
    for name, acc in data["accounts"].items():
        requests = acc.pop("requests")
        records[name] = acc
        writes.update({f"{name} {route}": sum(c.values()) for route, c in requests.items()
                       if route.split(" ", 1)[0] in ("POST", "PUT", "PATCH", "DELETE")})
    return records, writes


def client_for(ops) -> HeartlandClient:
    return HeartlandClient(heartland_account(ops.config, "acme"), dialect=ops.config.dialect)


async def test_plan_of_a_new_order_reads_heartland_writes_nothing_and_names_the_first_call(
        make_ops, pool, sandbox, http):
    ops = await make_ops(sandbox)
    await insert_order(pool)
    await set_stock(http, sandbox, **{"SKU-0002": {"S02": 5}, "SKU-0003": {"S02": 3}})
    db_before, (hl_before, writes_before) = await db_dump(pool), await sandbox_state(http, sandbox)

    code, out, err = await ops.run("orders", "plan", SHOP, "#1001")
    assert code == 0, err
    assert out.startswith(f"dry run for order #1001 (id 1001) of {SHOP}, Heartland account acme: "
                          "nothing was sent, nothing was written")
    assert "in Heartland no order '#1001' yet (no matching customer)" in out
    assert "next, mortard would send 1 change(s) to Heartland:\n  + create customer Pat Buyer <pat.buyer@example.com>" in out
    doc = await ops.json("orders", "plan", SHOP, "1001")
    assert doc["converged"] is False and doc["state"] == "creating" and doc["current_state"] == "received"
    assert [a["action"] for a in doc["actions"]] == ["create_customer"]

    assert await db_dump(pool) == db_before
    hl_after, writes_after = await sandbox_state(http, sandbox)
    assert hl_after == hl_before and writes_after == writes_before

    # The daemon's machine, run for real, sends exactly what the dry run said it would send first.
    client = client_for(ops)
    try:
        store = OrderStore(pool, "test-daemon", 30)
        rt = ShopRuntime(ops.config.shops[SHOP].settings, "acme", HeartlandGateway(client))
        machine = OrderMachine(store, {SHOP: rt}, ops.config.dialect)
        assert await store.claim_one(SHOP, 1001)
        await machine.run(SHOP, 1001)
    finally:
        await client.close()
    first = await pool.fetchval("SELECT request FROM journal WHERE order_id = 1001 ORDER BY id LIMIT 1")
    assert first == {k: v for k, v in doc["actions"][0].items() if k != "text"}
    assert await pool.fetchval("SELECT sync_state FROM orders WHERE order_id = 1001") == "invoiced"

    # Once converged, the dry run has nothing to send and says where the order stands.
    code, out, err = await ops.run("orders", "plan", SHOP, "#1001")
    assert code == 0, err
    assert "nothing to send: the order would be `invoiced`" in out
    assert "order " in out and "'#1001' is closed" in out


async def test_plan_of_an_order_waiting_for_lines_shows_them_as_a_diff(make_ops, pool, sandbox, http):
    ops = await make_ops(sandbox)
    payload = await insert_order(pool)
    await set_stock(http, sandbox, **{"SKU-0002": {"S01": 1, "S02": 5}, "SKU-0003": {"S02": 3}})
    client = client_for(ops)
    try:   # Heartland already has the customer and the (empty, pending) order, as after a crash
        customer = await client.create_customer({"first_name": "Pat", "last_name": "Buyer",
                                                 "email": "pat.buyer@example.com"})
        order_id = await client.create_order({"customer_id": customer, "source_location_id": 1, "station_id": 1,
                                              "public_id": "#1001", "shipping_charge": Decimal("7.50")})
    finally:
        await client.close()
    db_before, (hl_before, writes_before) = await db_dump(pool), await sandbox_state(http, sandbox)

    code, out, err = await ops.run("orders", "plan", SHOP, "#1001")
    assert code == 0, err
    assert f"in Heartland order {order_id} '#1001' is pending, customer {customer}, 0 line(s)" in out
    assert "Heartland differs from what Postgres remembers" in out
    diff = [ln.strip() for ln in out.splitlines() if ln.startswith("  + ") or ln.startswith("  ~ ")]
    assert diff == ["+ add line SKU-0002 × 2 at S02 @ 111.00 (list 116.00)", "+ add line SKU-0003 × 1 at S02 @ 24.00"]
    doc = await ops.json("orders", "plan", SHOP, "#1001")
    assert doc["heartland"]["order_id"] == order_id and doc["stored_mirror_matches"] is False
    assert [(a["action"], a["qty"], a["location_id"], a["unit_price"]) for a in doc["actions"]] == [
        ("add_line", 2, 3, "111.00"), ("add_line", 1, 3, "24.00")]
    assert any(r.startswith("stock of 2 item(s)") for r in doc["reads"])

    assert await db_dump(pool) == db_before
    hl_after, writes_after = await sandbox_state(http, sandbox)
    assert hl_after == hl_before and writes_after == writes_before
    assert payload["name"] == "#1001"


async def test_plan_refuses_unknown_orders_and_unconfigured_shops_with_one_line(make_ops, pool, sandbox):
    ops = await make_ops(sandbox)
    await insert_order(pool)
    code, out, err = await ops.run("orders", "plan", SHOP, "#77")
    assert code == 1 and out == "" and err.startswith("mortard: no order #77 in shop") and err.count("\n") == 1
    code, _, err = await ops.run("orders", "plan", "ghost.myshopify.com", "#1001")
    assert code == 1 and err.startswith("mortard: shop ghost.myshopify.com is not in the config file")


async def test_plan_says_when_heartland_cannot_be_reached(make_ops, pool):
    ops = await make_ops("http://127.0.0.1:9/")      # nothing listens on the discard port
    await insert_order(pool)
    code, out, err = await ops.run("orders", "plan", SHOP, "#1001")
    assert code == 1 and out == "" and err.count("\n") == 1
    assert err.startswith("mortard: Heartland account acme could not be read:")


async def test_plan_leaves_out_units_other_orders_runs_hold(make_ops, pool, sandbox, http):
    """Units another order's run has routed (held in Postgres, not yet counted by Heartland) are not
    offered to this order's plan either: the dry run says what the daemon would really do."""
    ops = await make_ops(sandbox)
    await insert_order(pool)
    await set_stock(http, sandbox, **{"SKU-0002": {"S02": 5}, "SKU-0003": {"S02": 3, "S03": 1}})
    client = client_for(ops)
    try:
        customer = await client.create_customer({"first_name": "Pat", "last_name": "Buyer",
                                                 "email": "pat.buyer@example.com"})
        await client.create_order({"customer_id": customer, "source_location_id": 1, "station_id": 1,
                                   "public_id": "#1001", "shipping_charge": Decimal("7.50")})
        gateway = HeartlandGateway(client)
        item = (await gateway.items(["SKU-0003"], "public_id"))["SKU-0003"]
        stock = await gateway.stock([item.id])
    finally:
        await client.close()

    def routed(doc: dict[str, Any]) -> list[int]:
        return [a["location_id"] for a in doc["actions"] if a["action"] == "add_line" and a.get("item_id") == item.id]

    first = routed(await ops.json("orders", "plan", SHOP, "#1001"))
    assert len(first) == 1
    there = stock[(item.id, first[0])]
    # Another order's run holds every unit of SKU-0003 where this order's line would go.
    await pool.execute("INSERT INTO stock_counters (account, item_id, location_id, held) VALUES ('acme', $1, $2, $3)",
                       item.id, first[0], there)
    await pool.execute("INSERT INTO stock_holds (shop, order_id, account, item_id, location_id, qty) "
                       "VALUES ($1, 2002, 'acme', $2, $3, $4)", SHOP, item.id, first[0], there)
    doc = await ops.json("orders", "plan", SHOP, "#1001")
    assert routed(doc) and first[0] not in routed(doc), (first, routed(doc))
    assert any(f"{there} unit(s) held by other orders' runs left out" in r for r in doc["reads"]), doc["reads"]
    # The order's own holds are its own: they don't hide units from it.
    await pool.execute("UPDATE stock_holds SET order_id = 1001")
    assert routed(await ops.json("orders", "plan", SHOP, "#1001")) == first
