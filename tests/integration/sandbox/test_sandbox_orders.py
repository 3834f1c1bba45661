"""Sales orders: status machine, open validation, edit rules and their inventory effects."""
from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from sandbox_helpers import Api, Sandbox

SKU1, SKU2 = "SKU-0001", "SKU-0003"  # item ids 1 (116.00) and 3 (24.00)
S01, S02 = 2, 3                      # store location ids; station id == location id in the fixture


async def _order(acme: Api, *, address: bool = True, **extra: Any) -> int:
    customer = await acme.create("/customers", {"first_name": "Ada", "last_name": "L",
                                                "email": "ada@example.com"})
    body: dict[str, Any] = {"customer_id": customer, "source_location_id": 1, "station_id": 1,
                            "public_id": "#1001", "status": "pending", "shipping_charge": 5, **extra}
    if address:
        body["shipping_address_id"] = await acme.create(
            f"/customers/{customer}/addresses",
            {"first_name": "Ada", "last_name": "L", "line_1": "1 Main St", "city": "Town",
             "state": "CA", "postal_code": "90001", "country": "US"})
    return await acme.create("/sales/orders", body)


async def _balanced_order(acme: Api, lines: list[tuple[int, int, int | None]], **extra: Any) -> int:
    """Order with (item_id, qty, ship_from) lines, a tax and a payment that balances it."""
    order = await _order(acme, **extra)
    for item_id, qty, ship_from in lines:
        await acme.create(f"/sales/orders/{order}/lines",
                          {"item_id": item_id, "qty": qty, "original_unit_price": 30,
                           "adjusted_unit_price": 25.5, "ship_from_location_id": ship_from})
    await acme.create(f"/sales/orders/{order}/taxes", {"description": "Sales tax", "value": 1.25})
    total = (await acme.get(f"/sales/orders/{order}"))["total"]
    await acme.create(f"/sales/orders/{order}/payments",
                      {"type": "CustomPayment", "deposit": True, "amount": total,
                       "payment_type_id": 1})
    return order


@pytest.fixture
async def stocked(sandbox: Sandbox) -> Sandbox:
    await sandbox.control("PUT", "accounts/acme/inventory", [
        {"item": SKU1, "location": "S01", "on_hand": 10}, {"item": SKU1, "location": "S02", "on_hand": 0},
        {"item": SKU2, "location": "S01", "on_hand": 5}, {"item": SKU2, "location": "S02", "on_hand": 7}])
    return sandbox


async def test_order_totals_and_read_back(acme: Api) -> None:
    order = await _balanced_order(acme, [(1, 2, S01)])
    got = await acme.get(f"/sales/orders/{order}", **{"_include[]": "lines"})
    assert got["total"] == Decimal("57.25")  # 2 x 25.50 + 1.25 tax + 5.00 shipping
    payments = await acme.get(f"/sales/orders/{order}/payments")
    assert sum(p["amount"] for p in payments["results"]) == Decimal("57.25")
    assert got["status"] == "pending" and got["public_id"] == "#1001"
    assert got["lines"][0]["value"] == Decimal("51.00") and got["lines"][0]["qty_invoiced"] == 0
    found = await acme.get("/sales/orders", _filter={"public_id": "#1001"})
    assert [o["id"] for o in found["results"]] == [order]


async def test_pending_commits_nothing_open_commits_at_ship_from(stocked: Sandbox, acme: Api) -> None:
    order = await _balanced_order(acme, [(1, 3, S01), (3, 2, S02)])
    assert await stocked.stock("acme", SKU1, "S01") == {"qty_on_hand": 10, "qty_committed": 0, "qty_available": 10}
    await acme.put(f"/sales/orders/{order}", {"status": "open"})
    assert await stocked.stock("acme", SKU1, "S01") == {"qty_on_hand": 10, "qty_committed": 3, "qty_available": 7}
    assert await stocked.stock("acme", SKU2, "S02") == {"qty_on_hand": 7, "qty_committed": 2, "qty_available": 5}
    rows = await acme.get("/inventory/values", _filter={"item_id": 1, "location_id": S01})
    assert rows["results"][0]["qty_committed"] == 3


async def test_undistributed_lines_commit_nothing(stocked: Sandbox, acme: Api) -> None:
    order = await _balanced_order(acme, [(1, 3, None)])
    await acme.put(f"/sales/orders/{order}", {"status": "open"})
    assert (await stocked.stock("acme", SKU1, "S01"))["qty_committed"] == 0


async def test_invoices_take_stock_and_close_the_order(stocked: Sandbox, acme: Api) -> None:
    order = await _balanced_order(acme, [(1, 3, S01), (3, 2, S02)])
    await acme.put(f"/sales/orders/{order}", {"status": "open"})
    lines = (await acme.get(f"/sales/orders/{order}/lines"))["results"]
    for line in lines:
        loc = line["ship_from_location_id"]
        invoice = await acme.create("/sales/invoices", {"order_id": order, "customer_id": 1,
                                                        "source_location_id": loc, "station_id": loc})
        await acme.create(f"/sales/invoices/{invoice}/lines", {"type": "ItemLine", "item_id": line["item_id"],
                                                               "qty": line["qty"], "order_line_id": line["id"]})
        done = await acme.put(f"/sales/invoices/{invoice}", {"status": "complete"})
        assert done["status"] == "complete" and done["source_location_id"] == loc
        status = (await acme.get(f"/sales/orders/{order}"))["status"]
        assert status == ("open" if line is lines[0] else "closed")
    assert await stocked.stock("acme", SKU1, "S01") == {"qty_on_hand": 7, "qty_committed": 0, "qty_available": 7}
    assert await stocked.stock("acme", SKU2, "S02") == {"qty_on_hand": 5, "qty_committed": 0, "qty_available": 5}
    got = await acme.get("/sales/invoices", _filter={"order_id": order}, **{"_include[]": "lines"})
    assert got["total"] == 2 and got["results"][0]["lines"][0]["qty"] == 3
    assert got["results"][0]["total"] == Decimal("76.50")


async def test_partial_invoice_keeps_order_open_and_remainder_committed(stocked: Sandbox, acme: Api) -> None:
    order = await _balanced_order(acme, [(1, 3, S01)])
    await acme.put(f"/sales/orders/{order}", {"status": "open"})
    line = (await acme.get(f"/sales/orders/{order}/lines"))["results"][0]
    invoice = await acme.create("/sales/invoices", {"order_id": order, "source_location_id": S01, "station_id": S01})
    await acme.create(f"/sales/invoices/{invoice}/lines", {"item_id": 1, "qty": 1, "order_line_id": line["id"]})
    await acme.put(f"/sales/invoices/{invoice}", {"status": "complete"})
    assert (await acme.get(f"/sales/orders/{order}"))["status"] == "open"
    assert await stocked.stock("acme", SKU1, "S01") == {"qty_on_hand": 9, "qty_committed": 2, "qty_available": 7}
    # edits: qty not below invoiced, no re-routing, no delete of an invoiced line
    path = f"/sales/orders/{order}/lines/{line['id']}"
    for body, field in (({"qty": 0}, "qty"), ({"ship_from_location_id": S02}, "ship_from_location_id")):
        reply = await acme.call("PUT", path, body)
        assert reply.status == 422 and field in reply.json["details"]
    reply = await acme.call("DELETE", path)
    assert reply.status == 422 and reply.json["error"] == "validation_error"
    # shrinking the line to what was invoiced completes it, and the order closes
    assert (await acme.put(path, {"qty": 1}))["qty"] == 1
    assert (await acme.get(f"/sales/orders/{order}"))["status"] == "closed"
    assert (await stocked.stock("acme", SKU1, "S01"))["qty_committed"] == 0


async def test_invoice_line_must_match_distribution_and_remaining_qty(stocked: Sandbox, acme: Api) -> None:
    order = await _balanced_order(acme, [(1, 2, S01)])
    await acme.put(f"/sales/orders/{order}", {"status": "open"})
    line = (await acme.get(f"/sales/orders/{order}/lines"))["results"][0]["id"]
    wrong = await acme.create("/sales/invoices", {"order_id": order, "source_location_id": S02, "station_id": S02})
    reply = await acme.call("POST", f"/sales/invoices/{wrong}/lines", {"item_id": 1, "qty": 1, "order_line_id": line})
    assert reply.status == 422 and "order_line_id" in reply.json["details"]
    right = await acme.create("/sales/invoices", {"order_id": order, "source_location_id": S01, "station_id": S01})
    reply = await acme.call("POST", f"/sales/invoices/{right}/lines", {"item_id": 1, "qty": 3, "order_line_id": line})
    assert reply.status == 422 and "qty" in reply.json["details"]
    reply = await acme.call("POST", "/sales/invoices", {"order_id": order, "source_location_id": S01, "station_id": S02})
    assert reply.status == 422 and "station_id" in reply.json["details"]


async def test_completing_an_invoice_never_oversells_unless_allowed(stocked: Sandbox, acme: Api) -> None:
    order = await _balanced_order(acme, [(1, 2, S02)])  # SKU1 has 0 on hand at S02
    await acme.put(f"/sales/orders/{order}", {"status": "open"})
    line = (await acme.get(f"/sales/orders/{order}/lines"))["results"][0]["id"]
    invoice = await acme.create("/sales/invoices", {"order_id": order, "source_location_id": S02, "station_id": S02})
    await acme.create(f"/sales/invoices/{invoice}/lines", {"item_id": 1, "qty": 2, "order_line_id": line})
    reply = await acme.call("PUT", f"/sales/invoices/{invoice}", {"status": "complete"})
    assert reply.status == 422 and reply.json["error"] == "validation_error" and "qty" in reply.json["details"]
    await stocked.control("PUT", "rules", {"prevent_oversell": False})
    await acme.put(f"/sales/invoices/{invoice}", {"status": "complete"})
    assert (await stocked.stock("acme", SKU1, "S02"))["qty_on_hand"] == -2


async def test_cancel_releases_committed_and_freezes_the_order(stocked: Sandbox, acme: Api) -> None:
    order = await _balanced_order(acme, [(1, 4, S01)])
    await acme.put(f"/sales/orders/{order}", {"status": "open"})
    assert (await stocked.stock("acme", SKU1, "S01"))["qty_committed"] == 4
    assert (await acme.put(f"/sales/orders/{order}", {"status": "canceled"}))["status"] == "canceled"
    assert (await stocked.stock("acme", SKU1, "S01"))["qty_committed"] == 0
    for method, path, body in (("PUT", f"/sales/orders/{order}", {"shipping_charge": 1}),
                               ("POST", f"/sales/orders/{order}/lines", {"item_id": 1, "qty": 1}),
                               ("POST", f"/sales/orders/{order}/payments",
                                {"type": "CustomPayment", "amount": -1, "payment_type_id": 1})):
        reply = await acme.call(method, path, body)
        assert reply.status == 422 and reply.json["error"] == "validation_error"


async def test_open_edits_move_commitment(stocked: Sandbox, acme: Api) -> None:
    order = await _balanced_order(acme, [(3, 2, S01)])
    await acme.put(f"/sales/orders/{order}", {"status": "open"})
    line = (await acme.get(f"/sales/orders/{order}/lines"))["results"][0]["id"]
    await acme.put(f"/sales/orders/{order}/lines/{line}", {"ship_from_location_id": S02, "qty": 3})
    assert (await stocked.stock("acme", SKU2, "S01"))["qty_committed"] == 0
    assert (await stocked.stock("acme", SKU2, "S02"))["qty_committed"] == 3
    assert (await acme.call("DELETE", f"/sales/orders/{order}/lines/{line}")).status == 204
    assert (await stocked.stock("acme", SKU2, "S02"))["qty_committed"] == 0
    # a refund on an open order is a negative payment
    await acme.create(f"/sales/orders/{order}/payments",
                      {"type": "CustomPayment", "deposit": True, "amount": -10, "payment_type_id": 1})
    assert (await acme.get(f"/sales/orders/{order}"))["status"] == "open"


@pytest.mark.parametrize(("rule", "make", "detail"), [
    ("open_requires_balanced", "unbalanced", "total"),
    ("open_requires_address", "no_address", "shipping_address_id"),
    ("open_requires_custom_fields", "no_custom", "custom@shopify_order_id"),
])
async def test_open_is_refused_per_rule_and_allowed_when_rule_off(
        sandbox: Sandbox, acme: Api, rule: str, make: str, detail: str) -> None:
    if make == "no_custom":  # make the optional field required for this test
        assert (await acme.put("/custom_fields/1", {"required": True}))["required"] is True
    order = await _order(acme, address=make != "no_address")
    if make != "unbalanced":
        await acme.create(f"/sales/orders/{order}/payments",
                          {"type": "CustomPayment", "deposit": True, "amount": 5, "payment_type_id": 1})
    reply = await acme.call("PUT", f"/sales/orders/{order}", {"status": "open"})
    assert reply.status == 422
    assert reply.json["error"] == "validation_error" and list(reply.json["details"]) == [detail]
    assert (await acme.get(f"/sales/orders/{order}"))["status"] == "pending"
    await sandbox.control("PUT", "rules", {"accounts": {"acme": {rule: False}}})
    assert (await acme.put(f"/sales/orders/{order}", {"status": "open"}))["status"] == "open"


async def test_open_only_from_pending_and_closed_is_not_settable(acme: Api) -> None:
    order = await _balanced_order(acme, [(1, 1, None)])
    reply = await acme.call("PUT", f"/sales/orders/{order}", {"status": "closed"})
    assert reply.status == 422 and "status" in reply.json["details"]
    await acme.put(f"/sales/orders/{order}", {"status": "open"})
    assert (await acme.call("PUT", f"/sales/orders/{order}", {"status": "pending"})).status == 422


async def test_unknown_custom_field_is_refused(acme: Api) -> None:
    order = await _order(acme)
    reply = await acme.call("PUT", f"/sales/orders/{order}", {"custom": {"nope": "x"}})
    assert reply.status == 422 and "custom@nope" in reply.json["details"]
    got = await acme.put(f"/sales/orders/{order}", {"custom@shopify_order_id": "5551"})
    assert got["custom"] == {"shopify_order_id": "5551"}
