"""The client against the API: every call the order workflow makes, and its inventory effects.

Runs against the local sandbox always, and against a real Heartland Retail account too when
HEARTLAND_TEST_SUBDOMAIN and HEARTLAND_TEST_TOKEN are set (a test account: it creates customers,
orders, invoices and tickets there). Checks that need to set stock run on the sandbox only.
"""
from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from decimal import Decimal

import aiohttp
import pytest

from mortard.heartland import HeartlandAccount, HeartlandClient, HeartlandNotFound, HeartlandValidationError
from stack import start_sandbox

REAL = bool(os.environ.get("HEARTLAND_TEST_SUBDOMAIN") and os.environ.get("HEARTLAND_TEST_TOKEN"))


@dataclass
class Target:
    name: str
    client: HeartlandClient
    sandbox_url: str | None  # None on a real account

    async def set_stock(self, http: aiohttp.ClientSession, item: str, location: str, on_hand: int) -> None:
        assert self.sandbox_url is not None
        async with http.put(f"{self.sandbox_url}/_sandbox/accounts/acme/inventory",
                            json={"item": item, "location": location, "on_hand": on_hand}) as r:
            r.raise_for_status()

    def sandbox_only(self) -> None:
        if self.sandbox_url is None:
            pytest.skip("needs the sandbox's control endpoints")


@pytest.fixture(params=["sandbox", "real"])
async def target(request) -> AsyncIterator[Target]:
    if request.param == "real":
        if not REAL:
            pytest.skip("real Heartland account not configured: set HEARTLAND_TEST_SUBDOMAIN and "
                        "HEARTLAND_TEST_TOKEN to run the contract suite against it")
        account = HeartlandAccount(name=os.environ["HEARTLAND_TEST_SUBDOMAIN"],
                                   token=os.environ["HEARTLAND_TEST_TOKEN"], rate_per_second=2, burst=2)
        async with HeartlandClient(account) as client:
            yield Target("real", client, None)
        return
    runner, url = await start_sandbox()
    account = HeartlandAccount(name="acme", token="sandbox-token-acme", base_url=f"{url}/acme/api/",
                               rate_per_second=500, burst=100)
    async with HeartlandClient(account) as client:
        yield Target("sandbox", client, url)
    await runner.cleanup()


async def _stock_location(t: Target) -> tuple[dict, dict, dict]:
    """A store with a station, the order-source location, and a tracked item."""
    locations = await t.client.list_locations()
    source = next((loc for loc in locations if loc["public_id"] == "ONLINE"), locations[0])
    store = next(loc for loc in locations if loc["id"] != source["id"] and loc.get("stations"))
    (item,) = await t.client.find_items(["SKU-0003"]) if t.sandbox_url else (await t.client.find_items(
        [os.environ.get("HEARTLAND_TEST_SKU", "")]) or [None])
    if item is None:
        pytest.skip("set HEARTLAND_TEST_SKU to a stocked item of the test account")
    return source, store, item


async def _payment_type(t: Target) -> int:
    types = await t.client.list_payment_types(name="Shopify")
    return int(types[0]["id"]) if types else await t.client.create_payment_type("Shopify")


async def _open_order(t: Target, *, qty: int = 2, price: Decimal = Decimal("24.00")) -> tuple[int, dict, dict, int]:
    source, store, item = await _stock_location(t)
    email = f"contract-{uuid.uuid4().hex[:8]}@example.com"
    customer = await t.client.create_customer({"first_name": "Con", "last_name": "Tract", "email": email})
    address = await t.client.add_customer_address(customer, {"first_name": "Con", "last_name": "Tract",
                                                             "line_1": "1 Main St", "line_2": "", "city": "Town",
                                                             "state": "IL", "postal_code": "62701",
                                                             "country": "US", "phone": ""})
    order = await t.client.create_order({"customer_id": customer, "source_location_id": source["id"],
                                         "station_id": source["stations"][0]["id"],
                                         "public_id": f"#C-{uuid.uuid4().hex[:6]}",
                                         "billing_address_id": address, "shipping_address_id": address,
                                         "shipping_charge": Decimal("5.00")})
    line = await t.client.add_order_line(order, {"item_id": item["id"], "qty": qty, "original_unit_price": price,
                                                 "adjusted_unit_price": price,
                                                 "ship_from_location_id": store["id"]})
    await t.client.add_order_tax(order, "Sales Tax", Decimal("3.84"))
    total = price * qty + Decimal("5.00") + Decimal("3.84")
    await t.client.add_order_payment(order, total, await _payment_type(t))
    await t.client.set_order_status(order, t.client.dialect.status_open)
    return order, store, item, line


async def test_reference_data_reads_return_what_the_catalog_needs(target: Target):
    locations = await target.client.list_locations()
    assert locations and all("id" in loc and "public_id" in loc for loc in locations)
    assert any(loc.get("stations") for loc in locations)
    assert isinstance(await target.client.list_payment_types(), list)
    fields = await target.client.list_custom_fields(group_id="sales.transaction")
    assert all("key" in f for f in fields)


async def test_items_are_found_by_public_id_in_batches_and_by_custom_field(target: Target):
    target.sandbox_only()
    skus = [f"SKU-{i:04d}" for i in range(1, 151)]
    items = await target.client.find_items(skus)
    assert {i["public_id"] for i in items} == set(skus)
    assert all(isinstance(i["price"], Decimal) for i in items)
    upc = items[0]["custom"]["upc"]
    (same,) = await target.client.find_items_by_custom("upc", [upc])
    assert same["id"] == items[0]["id"]


async def test_customers_are_found_by_email_after_being_created(target: Target):
    email = f"find-{uuid.uuid4().hex[:8]}@example.com"
    assert await target.client.find_customers(email=email) == []
    cid = await target.client.create_customer({"first_name": "A", "last_name": "B", "email": email})
    found = await target.client.find_customers(email=email)
    assert [c["id"] for c in found] == [cid]
    aid = await target.client.add_customer_address(cid, {"first_name": "A", "last_name": "B", "line_1": "1 St",
                                                         "city": "X", "state": "IL", "postal_code": "1",
                                                         "country": "US"})
    assert [a["id"] for a in await target.client.list_customer_addresses(cid)] == [aid]


async def test_an_order_round_trips_and_is_found_by_public_id(target: Target):
    order, store, item, line = await _open_order(target)
    got = await target.client.get_order(order)
    assert got["status"] == "open"
    assert sum(p["amount"] for p in await target.client.list_order_payments(order)) == got["total"]
    assert [o["id"] for o in await target.client.find_orders(got["public_id"])] == [order]
    lines = await target.client.list_order_lines(order)
    assert [(ln["id"], ln["qty"], ln["ship_from_location_id"]) for ln in lines] == [(line, 2, store["id"])]
    assert sum(t["value"] for t in await target.client.list_order_taxes(order)) == Decimal("3.84")
    assert sum(p["amount"] for p in await target.client.list_order_payments(order)) == got["total"]


async def test_opening_an_unbalanced_order_is_a_validation_error(target: Target):
    source, store, item = await _stock_location(target)
    customer = await target.client.create_customer({"first_name": "N", "last_name": "B",
                                                    "email": f"nb-{uuid.uuid4().hex[:6]}@example.com"})
    order = await target.client.create_order({"customer_id": customer, "source_location_id": source["id"],
                                              "station_id": source["stations"][0]["id"]})
    await target.client.add_order_line(order, {"item_id": item["id"], "qty": 1, "original_unit_price": Decimal("9.00"),
                                               "adjusted_unit_price": Decimal("9.00")})
    with pytest.raises(HeartlandValidationError) as err:
        await target.client.set_order_status(order, "open")
    assert err.value.details


async def test_open_commits_stock_and_a_completed_invoice_takes_it_off_hand_and_closes_the_order(
        target: Target, http):
    target.sandbox_only()
    await target.set_stock(http, "SKU-0003", "S01", 10)
    order, store, item, line = await _open_order(target)

    async def stock() -> dict:
        (row,) = [r for r in await target.client.inventory_values([item["id"]]) if r["location_id"] == store["id"]]
        return row

    before = await stock()
    assert before["qty_committed"] == 2 and before["qty_available"] == before["qty_on_hand"] - 2
    customer = (await target.client.get_order(order))["customer_id"]
    invoice = await target.client.create_invoice(order, customer, store["id"], store["stations"][0]["id"])
    await target.client.add_invoice_line(invoice, item["id"], 2, line)
    await target.client.complete_invoice(invoice)
    after = await stock()
    assert after["qty_on_hand"] == before["qty_on_hand"] - 2 and after["qty_committed"] == 0
    assert (await target.client.get_order(order))["status"] == "closed"
    (inv,) = await target.client.list_invoices(order)
    assert inv["status"] == "complete" and inv[target.client.dialect.invoice_location_field] == store["id"]
    lines = await target.client.list_invoice_lines(inv["id"])
    assert [(ln["item_id"], ln["qty"]) for ln in lines] == [(item["id"], 2)]


async def test_open_order_lines_can_be_changed_and_removed_and_refunded(target: Target):
    order, store, item, line = await _open_order(target, qty=3)
    await target.client.update_order_line(order, line, {"qty": 1})
    await target.client.add_order_payment(order, Decimal("-48.00"), await _payment_type(target))
    got = await target.client.get_order(order)
    assert sum(p["amount"] for p in await target.client.list_order_payments(order)) == got["total"]
    extra = await target.client.add_order_line(order, {"item_id": item["id"], "qty": 1,
                                                       "original_unit_price": Decimal("1.00"),
                                                       "adjusted_unit_price": Decimal("1.00")})
    await target.client.delete_order_line(order, extra)
    assert [ln["id"] for ln in await target.client.list_order_lines(order) if ln["qty"]] == [line]


async def test_cancelling_an_open_order_releases_its_commitment(target: Target, http):
    target.sandbox_only()
    await target.set_stock(http, "SKU-0003", "S01", 10)
    order, store, item, line = await _open_order(target)
    paid = sum(p["amount"] for p in await target.client.list_order_payments(order))
    await target.client.add_order_payment(order, -paid, await _payment_type(target))
    await target.client.set_order_status(order, target.client.dialect.status_cancelled)
    (row,) = [r for r in await target.client.inventory_values([item["id"]]) if r["location_id"] == store["id"]]
    assert row["qty_committed"] == 0
    assert (await target.client.get_order(order))["status"] == target.client.dialect.status_cancelled


async def test_a_return_ticket_restocks_at_its_station_location_and_is_found_by_public_id(target: Target, http):
    target.sandbox_only()
    await target.set_stock(http, "SKU-0003", "S01", 10)
    source, store, item = await _stock_location(target)
    customer = await target.client.create_customer({"first_name": "R", "last_name": "T",
                                                    "email": f"rt-{uuid.uuid4().hex[:6]}@example.com"})
    public_id = f"#R-{uuid.uuid4().hex[:6]}-R1"
    ptype = await _payment_type(target)
    ticket = await target.client.create_ticket({
        "public_id": public_id, "station_id": store["stations"][0]["id"], "customer_id": customer,
        "status": "complete",
        "item_lines": [{"type": "ItemLine", "item_id": item["id"], "qty": -1, "unit_price": Decimal("24.00")}],
        "tax_lines": [{"type": "TaxLine", "description": "Sales Tax", "value": Decimal("-1.92")}],
        "payments": [{"type": target.client.dialect.ticket_payment_type, "payment_type_id": ptype,
                      "amount": Decimal("-25.92"), "deposit": False}]})
    (found,) = await target.client.find_tickets(public_id)
    assert found["id"] == ticket and found["total"] == Decimal("-25.92") and found["type"] == "Return"
    (row,) = [r for r in await target.client.inventory_values([item["id"]]) if r["location_id"] == store["id"]]
    assert row["qty_on_hand"] == 11


async def test_an_unknown_order_is_not_found(target: Target):
    with pytest.raises(HeartlandNotFound):
        await target.client.get_order(987654321)

