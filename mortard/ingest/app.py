"""The webhook endpoint: verify, check, produce to Kafka, and only then answer 200.

Answers: 200 accepted (broker acked) or ignored (a topic mortard does not consume); 400 no topic,
not JSON, no order id; 401 unknown shop or bad signature; 413 body too large; 503 the broker did
not ack in time (Shopify retries). Nothing but a 2xx counts as delivered for Shopify, and mortard
never answers 3xx.
"""
from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import structlog
from aiohttp import web

from mortard.config import ShopConfig
from mortard.ingest.contract import (
    CONSUMED_TOPICS,
    HEADER_SHOP_DOMAIN,
    HEADER_TOPIC,
    HEADER_WEBHOOK_ID,
    OrderIdError,
    order_id_of,
    record_headers,
    record_key,
)
from mortard.ingest.hmac import shop_secrets, verify
from mortard.ingest.producer import RecordSink, ReportsReady, SinkUnavailable

WEBHOOK_PATH = "/webhooks/shopify"
_HEADER_HMAC = "shopify-hmac-sha256"
_READ_CHUNK = 64 * 1024

_log = structlog.get_logger("mortard.ingest")


def create_ingest_app(shops: Mapping[str, ShopConfig], sink: RecordSink, *, topic: str,
                      max_body_bytes: int, produce_timeout_s: float,
                      metrics: Any | None = None, serve_metrics: bool = True) -> web.Application:
    """The aiohttp app: ``POST /webhooks/shopify``, ``GET /healthz`` and (with metrics and
    `serve_metrics`) ``GET /metrics``. `mortard ingest` serves metrics on its ops port instead.

    `metrics` is duck-typed (`mortard.ops.metrics.Metrics` fits): `ingest_request(topic, outcome)`
    or an `ingest_requests` counter with labels ``topic``/``outcome``, an `ingest_produce_seconds`
    histogram and `render()`.
    """
    webhooks = _Webhooks(shops, sink, topic=topic, max_body_bytes=max_body_bytes,
                         produce_timeout_s=produce_timeout_s, meter=_Meter(metrics))
    app = web.Application()
    app.router.add_post(WEBHOOK_PATH, webhooks.handle)
    app.router.add_get("/healthz", webhooks.health)
    if metrics is not None and serve_metrics:
        app.router.add_get("/metrics", _metrics_handler(metrics))
    return app


def _answer(status: int, **body: Any) -> web.Response:
    return web.Response(status=status, body=json.dumps(body, separators=(",", ":")).encode(),
                        content_type="application/json")


class _Meter:
    """Counts outcomes on whatever metrics object was given (or nothing)."""

    def __init__(self, metrics: Any | None) -> None:
        self._metrics = metrics

    def count(self, topic: str | None, outcome: str) -> None:
        m = self._metrics
        if m is None:
            return
        helper = getattr(m, "ingest_request", None)
        if callable(helper):
            helper(topic, outcome)  # folds unknown topics itself
        else:
            label = topic if topic in CONSUMED_TOPICS else "other"
            m.ingest_requests.labels(topic=label, outcome=outcome).inc()

    def produced(self, seconds: float) -> None:
        if self._metrics is not None:
            self._metrics.ingest_produce_seconds.observe(seconds)


def _metrics_handler(metrics: Any) -> Callable[[web.Request], Awaitable[web.Response]]:
    content_type = getattr(metrics, "content_type", "text/plain; version=0.0.4; charset=utf-8")

    async def handle(request: web.Request) -> web.Response:
        return web.Response(body=metrics.render(), headers={"Content-Type": content_type})

    return handle


class _Webhooks:
    def __init__(self, shops: Mapping[str, ShopConfig], sink: RecordSink, *, topic: str,
                 max_body_bytes: int, produce_timeout_s: float, meter: _Meter) -> None:
        # Domains are case-insensitive; records carry the configured spelling.
        self._shops = {domain.lower(): (domain, shop_secrets(cfg)) for domain, cfg in shops.items()}
        self._sink = sink
        self._topic = topic
        self._max_body_bytes = max_body_bytes
        self._produce_timeout_s = produce_timeout_s
        self._meter = meter

    async def health(self, request: web.Request) -> web.Response:
        ready = self._sink.ready if isinstance(self._sink, ReportsReady) else True
        return _answer(200, ok=True) if ready else _answer(503, error="producer_not_started")

    async def handle(self, request: web.Request) -> web.Response:
        started = time.perf_counter()
        headers = request.headers
        topic = _shopify_header(headers, HEADER_TOPIC)
        shop_header = _shopify_header(headers, HEADER_SHOP_DOMAIN) or ""
        # Unauthenticated until the HMAC check: keep what gets logged short.
        ctx: dict[str, Any] = {"shop": shop_header[:255], "topic": topic and topic[:100],
                               "webhook_id": _shopify_header(headers, HEADER_WEBHOOK_ID)}

        if request.content_length is not None and request.content_length > self._max_body_bytes:
            return self._reject(413, "too_large", ctx, size=request.content_length)
        shop, secrets = self._shops.get(shop_header.strip().lower(), ("", ()))
        if not secrets:  # not configured, or configured without a secret
            return self._reject(401, "unknown_shop", ctx)
        body = await _read_limited(request, self._max_body_bytes)
        if body is None:
            return self._reject(413, "too_large", ctx)
        if not verify(body, _shopify_header(headers, _HEADER_HMAC), secrets):
            return self._reject(401, "bad_signature", ctx)
        ctx["shop"] = shop
        if not topic:
            return self._reject(400, "missing_topic", ctx)
        if topic not in CONSUMED_TOPICS:
            self._meter.count(topic, "ignored")
            _log.info("webhook_ignored", **ctx)
            return _answer(200, ok=True, ignored=True)
        try:
            payload = json.loads(body)
        except (ValueError, RecursionError):  # JSONDecodeError and UnicodeDecodeError are ValueErrors
            return self._reject(400, "not_json", ctx)
        try:
            order_id = order_id_of(topic, payload)
        except OrderIdError:
            return self._reject(400, "no_order_id", ctx)
        ctx["order_id"] = order_id
        return await self._produce(body, order_id, request, ctx, started)

    async def _produce(self, body: bytes, order_id: int, request: web.Request,
                       ctx: dict[str, Any], started: float) -> web.Response:
        shop = ctx["shop"]
        try:
            async with asyncio.timeout(self._produce_timeout_s):
                await self._sink.send(self._topic, record_key(shop, order_id), body,
                                      record_headers(request.headers, shop=shop))
        except TimeoutError:
            return self._reject(503, "unavailable", ctx, detail="broker did not ack in time")
        except SinkUnavailable as exc:
            return self._reject(503, "unavailable", ctx, detail=str(exc))
        except Exception:
            self._meter.count(ctx["topic"], "error")
            _log.exception("webhook_failed", **ctx)
            return _answer(500, error="internal")
        seconds = time.perf_counter() - started
        self._meter.count(ctx["topic"], "accepted")
        self._meter.produced(seconds)
        _log.info("webhook_accepted", ms=round(seconds * 1000, 1), **ctx)
        return _answer(200, ok=True)

    def _reject(self, status: int, reason: str, ctx: dict[str, Any], **extra: Any) -> web.Response:
        self._meter.count(ctx["topic"], reason)
        log = _log.warning if status >= 500 else _log.info
        log("webhook_rejected", reason=reason, status=status, **ctx, **extra)
        return _answer(status, error=reason)


def _shopify_header(headers: Mapping[str, str], name: str) -> str | None:
    """``X-Shopify-Foo`` or, from Shopify's newer Events surface, ``Shopify-Foo``."""
    value = headers.get("x-" + name)
    return headers.get(name) if value is None else value


async def _read_limited(request: web.Request, limit: int) -> bytes | None:
    """The raw body, or None as soon as it grows past `limit` bytes."""
    body = bytearray()
    async for chunk in request.content.iter_chunked(_READ_CHUNK):
        body += chunk
        if len(body) > limit:
            return None
    return bytes(body)
