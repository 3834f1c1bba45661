from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest
import structlog
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from mortard.config import Secret, ShopConfig
from mortard.ingest import SinkUnavailable, create_ingest_app, sign

SHOP = "shop-a.myshopify.com"
SECRET = "current-secret"
OLD_SECRET = "previous-secret"
TOPIC = "shopify.orders.test"
MAX_BODY = 4096
SHOPS = {
    SHOP: ShopConfig(domain=SHOP, heartland_account="acct", webhook_secret=Secret(SECRET),
                     previous_webhook_secret=Secret(OLD_SECRET)),
    "nosecret.myshopify.com": ShopConfig(domain="nosecret.myshopify.com", heartland_account="acct"),
}


@dataclass
class FakeSink:
    records: list[tuple[str, bytes, bytes, list[tuple[str, bytes]]]] = field(default_factory=list)
    fail: Exception | None = None
    delay: float = 0.0
    ready: bool = True

    async def send(self, topic: str, key: bytes, value: bytes, headers: Sequence[tuple[str, bytes]]) -> None:
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.fail is not None:
            raise self.fail
        self.records.append((topic, key, value, list(headers)))


class FakeCounter:
    def __init__(self) -> None:
        self.counts: dict[tuple[str, str], int] = {}
        self.observed: list[float] = []

    def labels(self, *, topic: str, outcome: str) -> FakeCounter:
        self._key = (topic, outcome)
        return self

    def inc(self) -> None:
        self.counts[self._key] = self.counts.get(self._key, 0) + 1

    def observe(self, value: float) -> None:
        self.observed.append(value)


class FakeMetrics:
    def __init__(self) -> None:
        self.ingest_requests = FakeCounter()
        self.ingest_produce_seconds = FakeCounter()

    def render(self) -> bytes:
        return b"# fake\n"


Client = Callable[..., Awaitable[TestClient]]


@pytest.fixture
async def make_client() -> AsyncIterator[Client]:
    clients: list[TestClient] = []

    async def make(sink: FakeSink, *, metrics: Any = None, timeout: float = 1.0) -> TestClient:
        app = create_ingest_app(SHOPS, sink, topic=TOPIC, max_body_bytes=MAX_BODY,
                                produce_timeout_s=timeout, metrics=metrics)
        client = TestClient(TestServer(app))
        await client.start_server()
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.close()


def order_body(order_id: Any = 820982911946154508) -> bytes:
    return json.dumps({"id": order_id, "name": "#1001", "updated_at": "2026-11-28T10:00:00Z"}).encode()


def shopify_headers(body: bytes, *, topic: str | None = "orders/create", shop: str = SHOP,
                    secret: str = SECRET, **extra: str) -> dict[str, str]:
    headers = {"Content-Type": "application/json", "X-Shopify-Shop-Domain": shop,
               "X-Shopify-Hmac-Sha256": sign(body, secret), "X-Shopify-Webhook-Id": "wh-1",
               "X-Shopify-API-Version": "2025-10", **extra}
    if topic is not None:
        headers["X-Shopify-Topic"] = topic
    return headers


async def post(client: TestClient, body: bytes, headers: dict[str, str]) -> tuple[int, Any]:
    async with client.post("/webhooks/shopify", data=body, headers=headers, allow_redirects=False) as resp:
        return resp.status, await resp.json()


async def test_accepted_webhook_is_produced_raw_with_key_and_headers(make_client: Client) -> None:
    sink = FakeSink()
    client = await make_client(sink)
    body = b'{"id": 77,  "note":"spacing and \\u00e9 kept"}'  # not re-encoded
    status, answer = await post(client, body, shopify_headers(
        body, **{"X-Shopify-Event-Id": "ev-9", "X-Shopify-Triggered-At": "2026-11-28T10:00:00Z"}))
    assert (status, answer) == (200, {"ok": True})
    [(topic, key, value, headers)] = sink.records
    assert topic == TOPIC
    assert key == f"{SHOP}/77".encode()
    assert value == body
    assert headers == [("shopify-topic", b"orders/create"), ("shopify-shop-domain", SHOP.encode()),
                       ("shopify-webhook-id", b"wh-1"), ("shopify-event-id", b"ev-9"),
                       ("shopify-triggered-at", b"2026-11-28T10:00:00Z"), ("shopify-api-version", b"2025-10")]


@pytest.mark.parametrize(("topic", "payload", "order_id"), [
    ("orders/edited", {"order_edit": {"id": 1, "order_id": 5}}, 5),
    ("refunds/create", {"id": 1, "order_id": 6}, 6),
    ("order_transactions/create", {"id": 1, "order_id": 7}, 7),
    ("orders/cancelled", {"id": 8}, 8),
])
async def test_key_uses_the_order_id_field_of_the_topic(make_client: Client, topic: str,
                                                       payload: dict[str, Any], order_id: int) -> None:
    sink = FakeSink()
    client = await make_client(sink)
    body = json.dumps(payload).encode()
    assert (await post(client, body, shopify_headers(body, topic=topic)))[0] == 200
    assert sink.records[0][1] == f"{SHOP}/{order_id}".encode()


async def test_previous_secret_is_accepted_during_rotation(make_client: Client) -> None:
    sink = FakeSink()
    client = await make_client(sink)
    body = order_body()
    assert (await post(client, body, shopify_headers(body, secret=OLD_SECRET)))[0] == 200
    assert len(sink.records) == 1


async def test_shop_domain_is_matched_case_insensitively_and_recorded_as_configured(make_client: Client) -> None:
    sink = FakeSink()
    client = await make_client(sink)
    body = order_body(5)
    assert (await post(client, body, shopify_headers(body, shop="SHOP-A.myshopify.com")))[0] == 200
    assert sink.records[0][1] == f"{SHOP}/5".encode()
    assert ("shopify-shop-domain", SHOP.encode()) in sink.records[0][3]


async def test_other_topics_are_answered_200_and_dropped(make_client: Client) -> None:
    sink, metrics = FakeSink(), FakeMetrics()
    client = await make_client(sink, metrics=metrics)
    body = b'{"id": 1}'
    status, answer = await post(client, body, shopify_headers(body, topic="products/update"))
    assert (status, answer) == (200, {"ok": True, "ignored": True})
    assert sink.records == []
    assert metrics.ingest_requests.counts == {("other", "ignored"): 1}


@pytest.mark.parametrize(("case", "status", "error"), [
    ("bad_signature", 401, "bad_signature"),
    ("missing_signature", 401, "bad_signature"),
    ("third_secret", 401, "bad_signature"),
    ("unknown_shop", 401, "unknown_shop"),
    ("missing_shop", 401, "unknown_shop"),
    ("shop_without_secret", 401, "unknown_shop"),
    ("not_json", 400, "not_json"),
    ("not_utf8", 400, "not_json"),
    ("no_order_id", 400, "no_order_id"),
    ("order_id_not_positive", 400, "no_order_id"),
    ("json_array", 400, "no_order_id"),
    ("missing_topic", 400, "missing_topic"),
    ("too_large", 413, "too_large"),
])
async def test_rejections_never_touch_the_sink(make_client: Client, case: str, status: int, error: str) -> None:
    sink, metrics = FakeSink(), FakeMetrics()
    client = await make_client(sink, metrics=metrics)
    body = order_body()
    headers = shopify_headers(body)
    if case == "bad_signature":
        headers["X-Shopify-Hmac-Sha256"] = sign(body + b" ", SECRET)
    elif case == "missing_signature":
        del headers["X-Shopify-Hmac-Sha256"]
    elif case == "third_secret":
        headers = shopify_headers(body, secret="some-other-secret")
    elif case == "unknown_shop":
        headers = shopify_headers(body, shop="evil.myshopify.com")
    elif case == "missing_shop":
        del headers["X-Shopify-Shop-Domain"]
    elif case == "shop_without_secret":
        headers = shopify_headers(body, shop="nosecret.myshopify.com", secret="")
    elif case in ("not_json", "not_utf8", "no_order_id", "order_id_not_positive", "json_array"):
        body = {"not_json": b"{not json", "not_utf8": b'{"id": 1, "x": "\xff"}',
                "no_order_id": b'{"order_id": 5}', "order_id_not_positive": b'{"id": -1}',
                "json_array": b'[{"id": 5}]'}[case]
        headers = shopify_headers(body)
    elif case == "missing_topic":
        headers = shopify_headers(body, topic=None)
    elif case == "too_large":
        body = json.dumps({"id": 5, "pad": "x" * MAX_BODY}).encode()
        headers = shopify_headers(body)
    assert await post(client, body, headers) == (status, {"error": error})
    assert sink.records == []
    assert metrics.ingest_requests.counts == {("orders/create" if case != "missing_topic" else "other", error): 1}


async def test_too_large_is_detected_while_reading_a_chunked_body(make_client: Client) -> None:
    sink = FakeSink()
    client = await make_client(sink)
    body = json.dumps({"id": 5, "pad": "x" * (3 * MAX_BODY)}).encode()

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: chunked transfer encoding
        for i in range(0, len(body), 1000):
            yield body[i:i + 1000]

    async with client.post("/webhooks/shopify", data=chunks(), headers=shopify_headers(body)) as resp:
        assert resp.request_info.headers.get("Transfer-Encoding") == "chunked"
        assert (resp.status, await resp.json()) == (413, {"error": "too_large"})
    assert sink.records == []


async def test_body_exactly_at_the_limit_is_accepted(make_client: Client) -> None:
    sink = FakeSink()
    client = await make_client(sink)
    prefix = b'{"id": 5, "pad": "'
    body = prefix + b"x" * (MAX_BODY - len(prefix) - 2) + b'"}'
    assert len(body) == MAX_BODY
    assert (await post(client, body, shopify_headers(body)))[0] == 200


@pytest.mark.parametrize("failure", ["raises", "times_out"])
async def test_sink_failure_or_timeout_is_503(make_client: Client, failure: str) -> None:
    sink = FakeSink(fail=SinkUnavailable("broker down")) if failure == "raises" else FakeSink(delay=5.0)
    metrics = FakeMetrics()
    client = await make_client(sink, metrics=metrics, timeout=0.2)
    body = order_body()
    loop = asyncio.get_running_loop()
    started = loop.time()
    assert await post(client, body, shopify_headers(body)) == (503, {"error": "unavailable"})
    assert loop.time() - started < 2.0
    assert sink.records == []
    assert metrics.ingest_requests.counts == {("orders/create", "unavailable"): 1}
    assert metrics.ingest_produce_seconds.observed == []


async def test_unexpected_sink_error_is_500_json(make_client: Client) -> None:
    client = await make_client(FakeSink(fail=RuntimeError("bug")))
    body = order_body()
    assert await post(client, body, shopify_headers(body)) == (500, {"error": "internal"})


async def test_health_follows_the_sink_and_metrics_are_served(make_client: Client) -> None:
    sink, metrics = FakeSink(ready=False), FakeMetrics()
    client = await make_client(sink, metrics=metrics)
    async with client.get("/healthz") as resp:
        assert resp.status == 503
    sink.ready = True
    async with client.get("/healthz") as resp:
        assert (resp.status, await resp.json()) == (200, {"ok": True})
    body = order_body()
    await post(client, body, shopify_headers(body))
    assert metrics.ingest_requests.counts == {("orders/create", "accepted"): 1}
    assert len(metrics.ingest_produce_seconds.observed) == 1
    async with client.get("/metrics") as resp:
        assert (resp.status, await resp.read()) == (200, b"# fake\n")


async def test_no_metrics_route_without_metrics_and_no_redirects(make_client: Client) -> None:
    client = await make_client(FakeSink())
    async with client.get("/metrics") as resp:
        assert resp.status == 404
    for path in ("/webhooks/shopify/", "/webhooks//shopify", "/WEBHOOKS/shopify"):
        async with client.post(path, data=b"{}", allow_redirects=False) as resp:
            assert not 300 <= resp.status < 400
    async with client.get("/webhooks/shopify", allow_redirects=False) as resp:
        assert resp.status == 405


async def test_real_ops_metrics_object_is_accepted(make_client: Client) -> None:
    metrics_mod = pytest.importorskip("mortard.ops.metrics")
    metrics = metrics_mod.Metrics()
    client = await make_client(FakeSink(), metrics=metrics)
    body = order_body()
    assert (await post(client, body, shopify_headers(body)))[0] == 200
    async with client.get("/metrics") as resp:
        text = await resp.text()
    assert 'mortard_ingest_requests_total{outcome="accepted",topic="orders/create"} 1.0' in text
    assert "mortard_ingest_produce_seconds_count 1.0" in text


async def test_logs_never_contain_the_secret_or_the_signature(make_client: Client) -> None:
    client = await make_client(FakeSink())
    body = order_body(99)
    good = shopify_headers(body)
    bad = shopify_headers(body, secret="wrong-secret")
    with structlog.testing.capture_logs() as logs:
        await post(client, body, good)
        await post(client, body, bad)
    assert [e["event"] for e in logs] == ["webhook_accepted", "webhook_rejected"]
    assert logs[0]["order_id"] == 99 and logs[0]["shop"] == SHOP and logs[0]["topic"] == "orders/create"
    assert logs[1]["reason"] == "bad_signature"
    text = repr(logs)
    for needle in (SECRET, OLD_SECRET, "wrong-secret", good["X-Shopify-Hmac-Sha256"], bad["X-Shopify-Hmac-Sha256"]):
        assert needle not in text


async def test_app_is_a_plain_aiohttp_application() -> None:
    app = create_ingest_app({}, FakeSink(), topic=TOPIC, max_body_bytes=10, produce_timeout_s=1)
    assert isinstance(app, web.Application)
