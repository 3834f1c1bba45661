"""Addressing, auth, create/paging/filter conventions and money rendering, over real HTTP."""
from __future__ import annotations

from sandbox_helpers import Api, Sandbox


async def test_account_by_path_prefix_with_its_own_token(sandbox: Sandbox) -> None:
    assert (await sandbox.api("acme").get("/locations"))["total"] == 4
    assert (await sandbox.api("globex").get("/locations"))["total"] == 5


async def test_account_by_host_header_first_label(sandbox: Sandbox) -> None:
    port = sandbox.root.rsplit(":", 1)[1]
    api = Api(sandbox.http, f"{sandbox.root}/api", "sandbox-token-globex")
    reply = await api.call("GET", "/locations", headers={"Host": f"globex.localhost:{port}"})
    assert reply.status == 200 and reply.json["total"] == 5


async def test_wrong_or_missing_token_is_401_json(sandbox: Sandbox) -> None:
    for token in (None, "sandbox-token-globex"):
        reply = await sandbox.api("acme", token=token).call("GET", "/items")
        assert reply.status == 401
        assert reply.json["error"] == "unauthorized" and "message" in reply.json


async def test_unknown_account_and_unknown_id_are_404(sandbox: Sandbox) -> None:
    assert (await sandbox.api("nobody", token="x").call("GET", "/items")).status == 404
    reply = await sandbox.api().call("GET", "/sales/orders/999")
    assert reply.status == 404 and reply.json["error"] == "not_found"


async def test_create_answers_201_with_location_and_empty_body(acme: Api) -> None:
    reply = await acme.call("POST", "/customers", {"first_name": "Ada", "email": "ada@example.com"})
    assert reply.status == 201 and reply.text == ""
    assert reply.headers["Location"].endswith("/acme/api/customers/1")
    assert (await acme.get("/customers/1"))["email"] == "ada@example.com"


async def test_bad_json_is_400(acme: Api) -> None:
    reply = await acme.call("POST", "/customers", raw="{nope")
    assert reply.status == 400 and reply.json["error"] == "bad_request"


async def test_paging_defaults_to_20_and_accepts_all(acme: Api) -> None:
    first = await acme.get("/items")
    assert first["total"] == 321 and first["pages"] == 17 and len(first["results"]) == 20
    last = await acme.get("/items", page="17", per_page="20")
    assert [i["public_id"] for i in last["results"]] == ["REFUND"]
    assert len((await acme.get("/items", per_page="all"))["results"]) == 321
    assert (await acme.call("GET", "/items", params={"per_page": "x"})).status == 400


async def test_filter_operators(acme: Api) -> None:
    async def ids(flt: object) -> list[int]:
        return [r["id"] for r in (await acme.get("/items", _filter=flt, per_page="all"))["results"]]

    assert await ids({"public_id": "SKU-0003"}) == [3]
    assert await ids({"id": {"$eq": 3}}) == [3]
    assert await ids({"id": {"$gt": 318}}) == [319, 320, 321]
    assert await ids({"id": {"$gte": 320}}) == [320, 321]
    assert await ids({"id": {"$lt": 3}}) == [1, 2]
    assert await ids({"id": {"$lte": 2}}) == [1, 2]
    assert await ids({"id": {"$gt": 1, "$lt": 4}}) == [2, 3]
    assert await ids([{"id": {"$lt": 10}}, {"id": {"$neq": 5}}, {"id": {"$gt": 7}}]) == [8, 9]
    assert await ids({"public_id": {"$in": ["SKU-0002", "SKU-0009", "NOPE"]}}) == [2, 9]
    assert await ids({"$or": [{"id": 4}, {"public_id": "SKU-0006"}]}) == [4, 6]
    assert await ids({"$and": [{"id": {"$lt": 5}}, {"id": {"$gt": 3}}]}) == [4]
    assert await ids({"track_inventory": False}) == [321]
    assert await ids({"price": {"$gt": 115.99, "$lt": 116.01}, "id": {"$lt": 3}}) == [1, 2]
    upc = (await acme.get("/items/7"))["custom"]["upc"]
    assert await ids({"custom@upc": upc}) == [7]
    assert await ids({"custom@upc": {"$in": [upc, "000"]}}) == [7]
    reply = await acme.call("GET", "/items", params={"_filter": '{"id": {"$like": 1}}'})
    assert reply.status == 400


async def test_plain_equality_params_and_include(acme: Api) -> None:
    found = await acme.get("/items", public_id="SKU-0010")
    assert [i["id"] for i in found["results"]] == [10]
    locations = await acme.get("/locations", **{"_include[]": "stations"})
    online = next(loc for loc in locations["results"] if loc["public_id"] == "ONLINE")
    assert online["stations"] == [{"id": 1, "name": "Online Orders", "location_id": 1}]
    assert "stations" not in (await acme.get("/locations"))["results"][0]


async def test_money_is_rendered_with_two_decimals(acme: Api) -> None:
    reply = await acme.call("GET", "/items/1")
    assert '"price": 116.00' in reply.text


async def test_money_with_more_than_two_decimals_is_refused(acme: Api) -> None:
    reply = await acme.call("POST", "/customers/1/addresses", {})
    assert reply.status == 404
    customer = await acme.create("/customers", {"first_name": "A"})
    order = await acme.create("/sales/orders", {"customer_id": customer, "source_location_id": 1,
                                                "station_id": 1, "status": "pending"})
    reply = await acme.call("POST", f"/sales/orders/{order}/taxes", raw='{"description": "t", "value": 1.005}')
    assert reply.status == 422
    assert reply.json["error"] == "validation_error" and "value" in reply.json["details"]


async def test_requests_are_counted_by_route_template_and_status(sandbox: Sandbox, acme: Api) -> None:
    await acme.get("/items/1")
    await acme.get("/items/2")
    await acme.call("GET", "/items/99999")
    await sandbox.api("acme", token="bad").call("GET", "/items")
    counts = (await sandbox.control("GET", "requests"))["acme"]["requests"]
    assert counts["GET /api/items/{id}"] == {"200": 2, "404": 1}
    assert counts["GET /api/items"] == {"401": 1}


async def test_inventory_values_grouping(acme: Api, sandbox: Sandbox) -> None:
    await sandbox.control("PUT", "accounts/acme/inventory", [
        {"item": "SKU-0001", "location": "S01", "on_hand": 4},
        {"item": "SKU-0001", "location": "S02", "on_hand": 6}])
    rows = await acme.get("/inventory/values", **{"group[]": ["item_id", "location_id"]},
                          _filter={"item_id": {"$in": [1]}}, per_page="all")
    by_location = {r["location_id"]: r["qty_on_hand"] for r in rows["results"]}
    assert by_location[2] == 4 and by_location[3] == 6 and len(by_location) == 4
    total = await acme.get("/inventory/values", **{"group[]": "item_id"}, item_id="1")
    assert total["results"][0]["qty_on_hand"] == sum(by_location.values())
