"""The sandbox's API answers carry the fields heartland-api.md documents and no others, unless a
Dialect setting assumes more: a witness must not be kinder than the doc (sandbox/documented.py)."""
from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest

from mortard.heartland_contract.dialect import DEFAULT_DIALECT
from mortard.sandbox import create_app
from sandbox_helpers import Api, Sandbox, start
from test_sandbox_orders import S01, _balanced_order


@pytest.fixture(scope="module")
async def documented(http: aiohttp.ClientSession) -> AsyncIterator[Sandbox]:
    runner, root = await start(create_app(dialect=DEFAULT_DIALECT))
    yield Sandbox(http, root, None)
    await runner.cleanup()


@pytest.fixture
async def api(documented: Sandbox) -> Api:
    await documented.control("POST", "reset")
    await documented.control("PUT", "accounts/acme/inventory", [{"item": "SKU-0001", "location": "S01", "on_hand": 9}])
    return documented.api("acme")


async def _invoiced(api: Api) -> tuple[int, int]:
    order = await _balanced_order(api, [(1, 2, S01)])
    await api.put(f"/sales/orders/{order}", {"status": "open"})
    invoice = await api.create("/sales/invoices", {"order_id": order, "source_location_id": S01, "station_id": S01})
    await api.create(f"/sales/invoices/{invoice}/lines", {"type": "ItemLine", "item_id": 1, "qty": 2})
    await api.put(f"/sales/invoices/{invoice}", {"status": "complete"})
    return order, invoice


async def test_order_lines_read_back_without_custom_fields_or_an_invoiced_quantity(api: Api) -> None:
    order, _ = await _invoiced(api)
    (line,) = (await api.get(f"/sales/orders/{order}/lines"))["results"]
    assert set(line) == {"id", "order_id", "item_id", "qty", "ship_from_location_id", "original_unit_price",
                         "adjusted_unit_price", "description", "value"}
    got = await api.get(f"/sales/orders/{order}")
    assert got["status"] == "closed" and "payments_total" not in got and "balance" not in got


async def test_invoices_ignore_include_lines_and_their_lines_do_not_name_order_lines(api: Api) -> None:
    order, invoice = await _invoiced(api)
    (inv,) = (await api.get("/sales/invoices", _filter={"order_id": order}, **{"_include[]": "lines"}))["results"]
    assert "lines" not in inv and inv["status"] == "complete" and inv["source_location_id"] == S01
    (line,) = (await api.get(f"/sales/invoices/{invoice}/lines"))["results"]
    assert set(line) == {"id", "type", "item_id", "qty"}


async def test_lines_refuse_custom_fields_the_account_does_not_have(api: Api) -> None:
    order = await _balanced_order(api, [(1, 1, S01)])
    reply = await api.call("POST", f"/sales/orders/{order}/lines",
                           {"item_id": 1, "qty": 1, "custom": {"shopify_line_id": "7"}})
    assert reply.status == 422 and "custom@shopify_line_id" in reply.json["details"]


async def test_filters_cannot_reach_fields_an_answer_would_not_show(api: Api) -> None:
    order, _ = await _invoiced(api)
    found = await api.call("GET", f"/sales/orders/{order}/lines", params={"_filter": '{"qty_invoiced": 2}'})
    assert found.status != 200 or found.json["results"] == []
