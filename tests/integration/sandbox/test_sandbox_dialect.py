"""The sandbox honours a non-default `Dialect` given at start."""
from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest

from sandbox_helpers import Api, Sandbox, start
from mortard.heartland_contract.dialect import DEFAULT_DIALECT
from mortard.sandbox import create_app

DIALECT = DEFAULT_DIALECT.with_overrides({
    "status_cancelled": "cancelled", "invoice_location_field": "location_id",
    "line_delete_supported": False, "validation_http_status": 400,
    "invoice_line_order_line_field": None})


@pytest.fixture
async def other(http: aiohttp.ClientSession) -> AsyncIterator[Api]:
    app = create_app(dialect=DIALECT)
    runner, root = await start(app)
    yield Sandbox(http, root, app).api("acme")
    await runner.cleanup()


async def _open_order(api: Api) -> int:
    customer = await api.create("/customers", {"first_name": "A"})
    address = await api.create(f"/customers/{customer}/addresses", {"line_1": "x"})
    order = await api.create("/sales/orders", {"customer_id": customer, "source_location_id": 1,
                                               "station_id": 1, "shipping_address_id": address})
    await api.create(f"/sales/orders/{order}/lines", {"item_id": 3, "qty": 1, "ship_from_location_id": 2})
    total = (await api.get(f"/sales/orders/{order}"))["total"]
    await api.create(f"/sales/orders/{order}/payments", {"type": "CustomPayment", "amount": total,
                                                          "payment_type_id": 1})
    await api.put(f"/sales/orders/{order}", {"status": "open"})
    return order


async def test_validation_status_and_cancel_spelling(other: Api) -> None:
    order = await _open_order(other)
    reply = await other.call("PUT", f"/sales/orders/{order}", {"status": "canceled"})
    assert reply.status == 400 and reply.json["error"] == "validation_error"
    assert (await other.put(f"/sales/orders/{order}", {"status": "cancelled"}))["status"] == "cancelled"


async def test_line_delete_unsupported_and_invoice_fields(other: Api) -> None:
    order = await _open_order(other)
    line = (await other.get(f"/sales/orders/{order}/lines"))["results"][0]["id"]
    assert (await other.call("DELETE", f"/sales/orders/{order}/lines/{line}")).status == 404
    reply = await other.call("POST", "/sales/invoices", {"order_id": order, "source_location_id": 2, "station_id": 2})
    assert reply.status == 400 and "location_id" in reply.json["details"]
    invoice = await other.create("/sales/invoices", {"order_id": order, "location_id": 2, "station_id": 2})
    await other.create(f"/sales/invoices/{invoice}/lines", {"type": "ItemLine", "item_id": 3, "qty": 1})
    got = await other.put(f"/sales/invoices/{invoice}", {"status": "complete"})
    assert got["location_id"] == 2 and "source_location_id" not in got
    assert (await other.get(f"/sales/orders/{order}"))["status"] == "closed"
