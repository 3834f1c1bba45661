from __future__ import annotations

from dataclasses import replace

import json
import re
import types
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import aiohttp
import pytest
from aioresponses import aioresponses
from structlog.testing import capture_logs

from mortard.heartland import (
    AccountLimits,
    Dialect,
    FakeClock,
    HeartlandAccount,
    HeartlandAmbiguous,
    HeartlandClient,
    HeartlandError,
    HeartlandForbidden,
    HeartlandNotFound,
    HeartlandPaymentError,
    HeartlandRateLimited,
    HeartlandServerError,
    HeartlandUnauthorized,
    HeartlandUnavailable,
    HeartlandValidationError,
)

TOKEN = "tok_SUPER_SECRET_1234"
BASE = "https://acme.retail.heartland.us/api/"


def url(path: str) -> re.Pattern[str]:
    """Match BASE+path with any query string."""
    return re.compile(re.escape(BASE + path) + r"(\?.*)?$")


def calls(m: aioresponses, method: str = "") -> list[tuple[str, str, dict[str, Any]]]:
    out = []
    for (verb, u), reqs in m.requests.items():
        for req in reqs:
            if not method or verb == method:
                out.append((verb, str(u), req.kwargs))
    return out


def query(u: str) -> list[tuple[str, str]]:
    return parse_qsl(urlsplit(u).query)


class Recorder:
    def __init__(self) -> None:
        self.responses: list[tuple[str, str, int | None]] = []
        self.rate_limited: list[str] = []

    def on_response(self, account: str, method: str, status: int | None, seconds: float) -> None:
        self.responses.append((account, method, status))

    def on_rate_limited(self, account: str) -> None:
        self.rate_limited.append(account)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def observer() -> Recorder:
    return Recorder()


@pytest.fixture
async def client(clock: FakeClock, observer: Recorder) -> AsyncIterator[HeartlandClient]:
    account = HeartlandAccount("acme", token=TOKEN)
    async with HeartlandClient(account, clock=clock, observer=observer, rng=lambda: 0.5) as c:
        yield c


@pytest.fixture
def mock() -> aioresponses:
    with aioresponses() as m:
        yield m


def error_body(code: str, message: str, details: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"error": code, "message": message, "details": details or {}}


# ------------------------------------------------------------------------------------------ account
def test_account_defaults_and_token_is_hidden() -> None:
    account = HeartlandAccount("acme", token=TOKEN)
    assert account.base_url == BASE
    assert TOKEN not in repr(account) and TOKEN not in str(account)
    assert TOKEN not in repr(account.token) and account.token.reveal() == TOKEN
    local = HeartlandAccount("acme", token=TOKEN, base_url="http://127.0.0.1:8111/acme/api")
    assert local.base_url == "http://127.0.0.1:8111/acme/api/"


async def test_requests_send_the_bearer_token_and_json(client: HeartlandClient, mock: aioresponses) -> None:
    mock.get(url("sales/orders/5"), payload={"id": 5})
    assert await client.get_order(5) == {"id": 5}
    ((_, _, kwargs),) = calls(mock)
    assert kwargs["headers"]["Authorization"] == f"Bearer {TOKEN}"


# ------------------------------------------------------------------------------------------ errors
async def test_validation_error_carries_heartland_details(client: HeartlandClient, mock: aioresponses) -> None:
    details = {"total": ["does not match payments"], "custom@channel": ["is required"]}
    mock.put(url("sales/orders/7"), status=422, payload=error_body("validation_error", "Can't open", details))
    with pytest.raises(HeartlandValidationError) as err:
        await client.set_order_status(7, "open")
    e = err.value
    assert (e.status, e.code, e.method, e.path, e.account) == (422, "validation_error", "PUT", "sales/orders/7", "acme")
    assert e.details == details and e.message == "Can't open" and not e.retryable
    assert "validation_error" in str(e) and "total" in str(e)
    assert len(calls(mock)) == 1


async def test_validation_is_classified_by_body_code_not_only_status(client: HeartlandClient, mock: aioresponses) -> None:
    mock.post(url("sales/orders/7/lines"), status=409, payload=error_body("validation_error", "qty", {"qty": ["x"]}))
    with pytest.raises(HeartlandValidationError) as err:
        await client.add_order_line(7, {"item_id": 1, "qty": 1})
    assert err.value.details == {"qty": ["x"]}


async def test_payment_error(client: HeartlandClient, mock: aioresponses) -> None:
    mock.post(url("sales/orders/7/payments"), status=422, payload=error_body("payment_error", "Declined"))
    with pytest.raises(HeartlandPaymentError) as err:
        await client.add_order_payment(7, Decimal("10.00"), 3)
    assert err.value.code == "payment_error" and not err.value.retryable


@pytest.mark.parametrize(
    ("status", "code", "exc"),
    [(404, "not_found", HeartlandNotFound), (401, "unauthorized", HeartlandUnauthorized),
     (403, "forbidden", HeartlandForbidden), (400, "bad_request", HeartlandValidationError)],
)
async def test_client_errors_map_to_their_type_and_are_not_retried(
    client: HeartlandClient, mock: aioresponses, status: int, code: str, exc: type[HeartlandError]
) -> None:
    mock.get(url("items/9"), status=status, payload=error_body(code, "nope"), repeat=True)
    with pytest.raises(exc) as err:
        await client.get_item(9)
    assert err.value.status == status and not err.value.retryable
    assert len(calls(mock)) == 1


async def test_get_429_waits_retry_after_then_succeeds(
    client: HeartlandClient, mock: aioresponses, clock: FakeClock, observer: Recorder
) -> None:
    mock.get(url("items/9"), status=429, payload=error_body("rate_limited", "slow down"), headers={"Retry-After": "2"})
    mock.get(url("items/9"), payload={"id": 9})
    with capture_logs() as logs:
        assert await client.get_item(9) == {"id": 9}
    assert clock.now() >= 2.0
    assert observer.rate_limited == ["acme"]
    assert client.limits.concurrency_limit == 3  # cut from 4
    limited = [e for e in logs if e["event"] == "heartland_rate_limited"]
    assert limited and limited[0]["account"] == "acme" and limited[0]["heartland_status"] == 429


async def test_long_retry_after_is_raised_and_pauses_the_account(
    client: HeartlandClient, mock: aioresponses, clock: FakeClock
) -> None:
    mock.get(url("items/9"), status=429, payload=error_body("rate_limited", "x"), headers={"Retry-After": "30"})
    with pytest.raises(HeartlandRateLimited) as err:
        await client.get_item(9)
    assert err.value.retry_after == 30.0 and err.value.retryable
    assert client.limits.paused_until == pytest.approx(30.0)
    mock.get(url("items/9"), payload={"id": 9})
    await client.get_item(9)  # waits the pause out first
    assert clock.now() >= 30.0


async def test_429_on_a_mutation_is_raised_not_retried(client: HeartlandClient, mock: aioresponses) -> None:
    mock.post(url("customers"), status=429, headers={"Retry-After": "1"}, repeat=True)
    with pytest.raises(HeartlandRateLimited):
        await client.create_customer({"email": "a@b.c"})
    assert len(calls(mock)) == 1


async def test_get_5xx_is_retried_then_succeeds(client: HeartlandClient, mock: aioresponses, clock: FakeClock) -> None:
    mock.get(url("sales/orders/5"), status=500, payload=error_body("server_error", "boom"))
    mock.get(url("sales/orders/5"), status=503)
    mock.get(url("sales/orders/5"), payload={"id": 5})
    assert await client.get_order(5) == {"id": 5}
    assert len(calls(mock)) == 3
    assert 0 < clock.now() <= 5.0  # backed off, within the budget


async def test_get_5xx_gives_up_after_three_attempts(client: HeartlandClient, mock: aioresponses) -> None:
    mock.get(url("sales/orders/5"), status=500, repeat=True)
    with pytest.raises(HeartlandServerError) as err:
        await client.get_order(5)
    assert err.value.retryable and len(calls(mock)) == 3


async def test_post_5xx_is_ambiguous_and_not_retried(client: HeartlandClient, mock: aioresponses) -> None:
    mock.post(url("sales/orders"), status=500, payload=error_body("server_error", "boom"), repeat=True)
    with pytest.raises(HeartlandAmbiguous) as err:
        await client.create_order({"public_id": "#1001"})
    assert err.value.status == 500 and not err.value.retryable
    assert len(calls(mock)) == 1


async def test_timeout_after_send_on_post_is_ambiguous(client: HeartlandClient, mock: aioresponses) -> None:
    mock.post(url("sales/orders"), timeout=True, repeat=True)
    with pytest.raises(HeartlandAmbiguous) as err:
        await client.create_order({"public_id": "#1001"})
    assert err.value.status is None and "timeout" in str(err.value)
    assert len(calls(mock)) == 1


async def test_reset_after_send_on_put_is_ambiguous(client: HeartlandClient, mock: aioresponses) -> None:
    mock.put(url("sales/invoices/3"), exception=aiohttp.ServerDisconnectedError(), repeat=True)
    with pytest.raises(HeartlandAmbiguous):
        await client.complete_invoice(3)
    assert len(calls(mock)) == 1


async def test_get_timeout_is_retried(client: HeartlandClient, mock: aioresponses) -> None:
    mock.get(url("sales/orders/5"), timeout=True)
    mock.get(url("sales/orders/5"), payload={"id": 5})
    assert await client.get_order(5) == {"id": 5}


def refused() -> aiohttp.ClientConnectorError:
    key = types.SimpleNamespace(host="acme.retail.heartland.us", port=443, ssl=True)
    return aiohttp.ClientConnectorError(key, ConnectionRefusedError(111, "Connection refused"))


async def test_connection_refused_mutation_is_resent_because_it_never_left(
    client: HeartlandClient, mock: aioresponses
) -> None:
    mock.post(url("customers"), exception=refused())
    mock.post(url("customers"), status=201, headers={"Location": f"{BASE}customers/44"})
    assert await client.create_customer({"email": "a@b.c"}) == 44


async def test_connection_refused_throughout_is_unavailable(client: HeartlandClient, mock: aioresponses) -> None:
    mock.post(url("customers"), exception=refused(), repeat=True)
    with pytest.raises(HeartlandUnavailable) as err:
        await client.create_customer({"email": "a@b.c"})
    assert err.value.retryable and len(calls(mock)) == 3


async def test_open_breaker_refuses_without_sending(clock: FakeClock, mock: aioresponses) -> None:
    account = HeartlandAccount("acme", token=TOKEN)
    limits = AccountLimits.for_account(account, clock=clock, breaker_threshold=2)
    async with HeartlandClient(account, limits=limits, rng=lambda: 0.5) as c:
        mock.get(url("items/1"), status=502, repeat=True)
        with pytest.raises(HeartlandUnavailable) as err:
            await c.get_item(1)  # 2 failures open the breaker; the 3rd attempt is refused
        assert len(calls(mock)) == 2
        assert err.value.retry_after == pytest.approx(30.0, abs=1.0)
        assert "GET items/1" in str(err.value) and "circuit breaker open" in str(err.value)
        with pytest.raises(HeartlandUnavailable):
            await c.get_item(1)
        assert len(calls(mock)) == 2
        assert limits.breaker_state == "open"


# ------------------------------------------------------------------------------------------ creates
@pytest.mark.parametrize("location", [f"{BASE}sales/orders/123", "/api/sales/orders/123", "sales/orders/123/"])
async def test_201_with_empty_body_takes_id_from_location(
    client: HeartlandClient, mock: aioresponses, location: str
) -> None:
    mock.post(url("sales/orders"), status=201, body="", headers={"Location": location})
    assert await client.create_order({"public_id": "#1001", "customer_id": 1}) == 123
    ((_, _, kwargs),) = calls(mock)
    assert json.loads(kwargs["data"]) == {"status": "pending", "public_id": "#1001", "customer_id": 1}
    assert kwargs["headers"]["Content-Type"] == "application/json"


async def test_201_without_location_is_ambiguous(client: HeartlandClient, mock: aioresponses) -> None:
    mock.post(url("sales/orders"), status=201, body="")
    with pytest.raises(HeartlandAmbiguous):
        await client.create_order({"public_id": "#1001"})


# ------------------------------------------------------------------------------------------ reads
async def test_paginate_follows_all_pages(client: HeartlandClient, mock: aioresponses) -> None:
    for page in (1, 2, 3):
        mock.get(url("sales/orders/5/lines"),
                 payload={"total": 5, "pages": 3, "results": [{"id": page * 10}, {"id": page * 10 + 1}][: 1 if page == 3 else 2]})
    pages = [p async for p in client.paginate("sales/orders/5/lines", per_page=2)]
    assert [p["results"][0]["id"] for p in pages] == [10, 20, 30]
    sent = [dict(query(u)) for _, u, _ in calls(mock)]
    assert sorted((q["page"], q["per_page"]) for q in sent) == [("1", "2"), ("2", "2"), ("3", "2")]


async def test_list_collects_results_across_pages(client: HeartlandClient, mock: aioresponses) -> None:
    mock.get(url("sales/orders/5/lines"), payload={"total": 3, "pages": 2, "results": [{"id": 1}, {"id": 2}]})
    mock.get(url("sales/orders/5/lines"), payload={"total": 3, "pages": 2, "results": [{"id": 3}]})
    assert [r["id"] for r in await client.list_order_lines(5)] == [1, 2, 3]


async def test_find_items_batches_in_filters_by_100(client: HeartlandClient, mock: aioresponses) -> None:
    mock.get(url("items"), payload={"total": 0, "pages": 1, "results": []}, repeat=True)
    skus = [f"SKU-{i}" for i in range(250)] + ["SKU-0"]  # duplicates are sent once
    await client.find_items(skus)
    filters = [json.loads(dict(query(u))["_filter"]) for _, u, _ in calls(mock)]
    sizes = sorted(len(f["public_id"]["$in"]) for f in filters)
    assert sizes == [50, 100, 100]
    assert sorted(s for f in filters for s in f["public_id"]["$in"]) == sorted(set(skus))


async def test_filter_and_include_encoding(client: HeartlandClient, mock: aioresponses) -> None:
    page = {"total": 0, "pages": 1, "results": []}
    mock.get(url("items"), payload=page)
    mock.get(url("inventory/values"), payload=page)
    mock.get(url("sales/invoices"), payload=page)
    mock.get(url("customers"), payload=page)
    mock.get(url("custom_fields"), payload=page)
    await client.find_items_by_custom("upc", ["0123"])
    await client.inventory_values([1, 2], location_ids=[7])
    await client.list_invoices(5)
    await client.find_customers(email="a@b.c")
    await client.list_custom_fields(group_id="sales.transaction", required=True)
    by_path = {urlsplit(u).path.rsplit("/api/", 1)[1]: query(u) for _, u, _ in calls(mock)}
    assert json.loads(dict(by_path["items"])["_filter"]) == {"custom@upc": {"$in": ["0123"]}}
    inv = by_path["inventory/values"]
    assert ("group[]", "item_id") in inv and ("group[]", "location_id") in inv and ("per_page", "all") in inv
    assert json.loads(dict(inv)["_filter"]) == [{"item_id": {"$in": [1, 2]}}, {"location_id": {"$in": [7]}}]
    # The doc shows `_include` only for customer, location and stations: lines are read apart.
    assert ("_include[]", "lines") not in by_path["sales/invoices"]
    assert json.loads(dict(by_path["sales/invoices"])["_filter"]) == {"order_id": 5}
    assert json.loads(dict(by_path["customers"])["_filter"]) == {"email": "a@b.c"}
    assert json.loads(dict(by_path["custom_fields"])["_filter"]) == [
        {"group_id": "sales.transaction"}, {"required": True}]


# ------------------------------------------------------------------------------------------ money
async def test_decimal_goes_out_as_a_literal_and_comes_back_decimal(client: HeartlandClient, mock: aioresponses) -> None:
    mock.post(url("sales/orders/5/payments"), status=201, headers={"Location": "sales/orders/5/payments/9"})
    mock.get(url("sales/orders/5"), body='{"id": 5, "total": 19.99, "payments_total": 19.99, "balance": 0.00}')
    assert await client.add_order_payment(5, Decimal("19.99"), 3, custom={"shopify_id": "gid"}) == 9
    ((_, _, kwargs),) = calls(mock, "POST")
    raw = kwargs["data"].decode()
    assert '"amount":19.99' in raw
    assert json.loads(raw) == {"type": "CustomPayment", "deposit": True, "amount": 19.99,
                               "payment_type_id": 3, "custom": {"shopify_id": "gid"}}
    order = await client.get_order(5)
    assert order["total"] == Decimal("19.99") and isinstance(order["total"], Decimal)
    assert order["balance"] == Decimal("0.00")


# ------------------------------------------------------------------------------------------ dialect
async def test_dialect_decides_invoice_location_field_and_line_delete(clock: FakeClock, mock: aioresponses) -> None:
    dialect = Dialect(invoice_location_field="location_id", line_delete_supported=False, invoice_line_order_line_field=None)
    async with HeartlandClient(HeartlandAccount("acme", token=TOKEN), dialect=dialect, clock=clock) as c:
        mock.post(url("sales/invoices"), status=201, headers={"Location": "/api/sales/invoices/4"})
        mock.post(url("sales/invoices/4/lines"), status=201, headers={"Location": "/api/sales/invoices/4/lines/8"})
        mock.put(url("sales/orders/5/lines/6"), payload={"id": 6, "qty": 0})
        assert await c.create_invoice(5, 1, 2, 3) == 4
        assert await c.add_invoice_line(4, item_id=10, qty=2, order_line_id=6) == 8
        await c.delete_order_line(5, 6)
    bodies = [json.loads(k["data"]) for _, _, k in calls(mock)]
    assert {"order_id": 5, "customer_id": 1, "location_id": 2, "station_id": 3} in bodies
    assert {"type": "ItemLine", "item_id": 10, "qty": 2} in bodies
    assert {"qty": 0} in bodies
    assert not calls(mock, "DELETE")


async def test_delete_order_line_sends_delete_where_the_dialect_assumes_it(client: HeartlandClient,
                                                                          mock: aioresponses) -> None:
    client.dialect = replace(client.dialect, line_delete_supported=True)
    mock.delete(url("sales/orders/5/lines/6"), status=204)
    assert await client.delete_order_line(5, 6) is None


# ------------------------------------------------------------------------------------------ secrets
async def test_token_never_in_errors_or_logs(client: HeartlandClient, mock: aioresponses, observer: Recorder) -> None:
    mock.get(url("items/1"), payload={"id": 1})
    mock.post(url("sales/orders"), status=500, body="oops")
    mock.get(url("items/2"), status=401, payload=error_body("unauthorized", "bad token"))
    with capture_logs() as logs:
        await client.get_item(1)
        with pytest.raises(HeartlandAmbiguous) as ambiguous:
            await client.create_order({"public_id": "#1"})
        with pytest.raises(HeartlandUnauthorized) as unauthorized:
            await client.get_item(2)
    for err in (ambiguous.value, unauthorized.value):
        assert TOKEN not in str(err) and TOKEN not in repr(err) and TOKEN not in repr(vars(err))
    assert logs and TOKEN not in repr(logs)
    request_logs = [e for e in logs if e["event"] == "heartland_request"]
    assert {e["heartland_status"] for e in request_logs} == {200, 500, 401}
    assert all(e["account"] == "acme" for e in request_logs)
    assert [s for _, _, s in observer.responses] == [200, 500, 401]
