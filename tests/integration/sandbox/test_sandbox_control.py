"""The `/_sandbox/` control endpoints."""
from __future__ import annotations

from sandbox_helpers import Api, Sandbox


async def test_health_lists_accounts(sandbox: Sandbox) -> None:
    assert await sandbox.control("GET", "health") == {"status": "ok", "accounts": ["acme", "globex"]}


async def test_state_snapshot_holds_orders_inventory_and_counts(sandbox: Sandbox, acme: Api) -> None:
    customer = await acme.create("/customers", {"first_name": "A"})
    order = await acme.create("/sales/orders", {"customer_id": customer, "source_location_id": 1, "station_id": 1})
    await acme.create(f"/sales/orders/{order}/lines", {"item_id": 1, "qty": 2, "ship_from_location_id": 2})
    await acme.create(f"/sales/orders/{order}/payments", {"type": "CustomPayment", "amount": 10, "payment_type_id": 1})
    state = await sandbox.control("GET", "state")
    acct = state["accounts"]["acme"]
    assert [o["id"] for o in acct["orders"]] == [order]
    assert acct["orders"][0]["lines"][0]["qty"] == 2 and acct["orders"][0]["payments"][0]["amount"] == 10
    assert {"invoices", "tickets", "customers", "inventory", "rules", "requests"} <= set(acct)
    row = acct["inventory"][0]
    assert set(row) >= {"item", "location", "qty_on_hand", "qty_committed", "qty_available"}
    assert acct["requests"]["POST /api/sales/orders"] == {"201": 1}
    assert state["accounts"]["globex"]["orders"] == []
    assert state["dialect"]["status_cancelled"] == "canceled"


async def test_reset_goes_back_to_the_fixture(sandbox: Sandbox, acme: Api) -> None:
    await acme.create("/customers", {"first_name": "A"})
    await sandbox.control("PUT", "rules", {"open_requires_balanced": False})
    await sandbox.control("PUT", "faults", {"global": {"latency_ms": 5}})
    await sandbox.control("POST", "reset")
    state = await sandbox.control("GET", "state?account=acme")
    assert state["accounts"]["acme"]["customers"] == [] and state["accounts"]["acme"]["requests"] == {}
    assert state["accounts"]["acme"]["rules"]["open_requires_balanced"] is True
    assert state["faults"]["global"]["latency_ms"] == 0
    assert await acme.create("/customers", {"first_name": "B"}) == 1  # ids restart too


async def test_reset_can_load_a_new_fixture(sandbox: Sandbox) -> None:
    fixture = {"accounts": {"tiny": {"token": "t", "locations": [{"public_id": "L1", "stations": [{"name": "R"}]}],
                                     "items": [{"public_id": "X", "price": 1.5}],
                                     "inventory": [{"item": "X", "location": "L1", "on_hand": 2}]}}}
    await sandbox.control("POST", "reset", {"fixture": fixture})
    try:
        tiny = sandbox.api("tiny", token="t")
        rows = await tiny.get("/inventory/values")
        assert rows["results"] == [{"item_id": 1, "location_id": 1, "qty": 2, "qty_on_hand": 2,
                                    "qty_committed": 0, "qty_available": 2}]
        async with sandbox.http.post(f"{sandbox.root}/_sandbox/reset", json={"fixture": {"accounts": 1}}) as resp:
            assert resp.status == 400
    finally:
        await sandbox.control("POST", "reset", {"fixture": _default()})


def _default() -> dict:
    import json
    from decimal import Decimal
    from mortard.sandbox import DEFAULT_FIXTURE
    data = json.loads(DEFAULT_FIXTURE.read_text(), parse_float=Decimal)
    return json.loads(json.dumps(data, default=str))  # prices travel as strings; the loader accepts them


async def test_faults_get_and_put_per_account(sandbox: Sandbox) -> None:
    got = await sandbox.control("PUT", "faults", {"accounts": {"globex": {"error_rate": 0.25}}})
    assert got["effective"]["globex"]["error_rate"] == 0.25
    assert got["effective"]["acme"]["error_rate"] == 0
    assert (await sandbox.control("GET", "faults"))["accounts"] == {"globex": {"error_rate": 0.25}}


async def test_rules_get_and_put(sandbox: Sandbox) -> None:
    rules = await sandbox.control("PUT", "rules", {"prevent_oversell": False,
                                                   "accounts": {"globex": {"open_requires_address": False}}})
    assert rules["acme"]["prevent_oversell"] is False and rules["acme"]["open_requires_address"] is True
    assert rules["globex"]["open_requires_address"] is False
    async with sandbox.http.put(f"{sandbox.root}/_sandbox/rules", json={"nope": True}) as resp:
        assert resp.status == 400
    assert (await sandbox.control("GET", "rules"))["acme"]["prevent_oversell"] is False


async def test_set_inventory(sandbox: Sandbox, acme: Api) -> None:
    got = await sandbox.control("PUT", "accounts/acme/inventory", {"item_id": 5, "location": "S03", "on_hand": 11})
    assert got["results"][0]["qty_on_hand"] == 11
    rows = await acme.get("/inventory/values", item_id="5", location_id="4")
    assert rows["results"][0]["qty_available"] == 11
    async with sandbox.http.put(f"{sandbox.root}/_sandbox/accounts/acme/inventory",
                                json={"item": "NOPE", "location": "S03", "on_hand": 1}) as resp:
        assert resp.status == 400


async def test_default_fixture_shape(sandbox: Sandbox, acme: Api) -> None:
    for name in ("acme", "globex"):
        api = sandbox.api(name)
        assert (await api.get("/items"))["total"] >= 300
        locations = (await api.get("/locations", **{"_include[]": "stations"}))["results"]
        assert len(locations) >= 4 and all(len(loc["stations"]) == 1 for loc in locations)
        assert locations[0]["name"] == "Online"
        refund = (await api.get("/items", public_id="REFUND"))["results"][0]
        assert refund["track_inventory"] is False
        fields = await api.get("/custom_fields", _filter={"group_id": "sales.transaction"})
        assert [(f["key"], f["required"]) for f in fields["results"]] == [("shopify_order_id", False)]
        types = await api.get("/payment_types", _filter={"name": {"$in": ["Shopify", "Gift Card"]}})
        assert types["total"] == 2
    inventory = (await sandbox.control("GET", "state?account=acme"))["accounts"]["acme"]["inventory"]
    stores: dict[str, list[int]] = {}
    for row in inventory:
        stores.setdefault(row["item"], []).append(row["qty_on_hand"])
    assert any(not any(q) for q in stores.values())             # out of stock everywhere
    assert any(sum(1 for q in qs if q) == 1 for qs in stores.values())  # only in one store
