from __future__ import annotations

import asyncio
import contextlib

import aiohttp
from ingest_helpers import (
    SHOP,
    SHOPS,
    create_topic,
    new_topic_name,
    order_body,
    read_topic,
    serve_ingest,
    webhook_headers,
)

from mortard.config import Config, IngestConfig, KafkaConfig
from mortard.testing.kafka import free_port
from mortard.ingest import run_ingest


async def test_posted_webhook_arrives_on_the_topic_with_raw_bytes_key_and_headers(kafka_bootstrap: str) -> None:
    topic = new_topic_name()
    await create_topic(kafka_bootstrap, topic)
    body = b'{"order_edit": {"id": 1, "order_id": 4242},  "note": "raw \\u00e9 bytes, odd  spacing"}'
    async with serve_ingest(kafka_bootstrap, topic) as url, aiohttp.ClientSession() as http:
        async with http.post(url, data=body, headers=webhook_headers(body, topic="orders/edited",
                                                                       webhook_id="w-1")) as resp:
            assert (resp.status, await resp.json()) == (200, {"ok": True})
    [record] = await read_topic(kafka_bootstrap, topic)
    assert record.value == body
    assert record.key == f"{SHOP}/4242".encode()
    assert list(record.headers) == [
        ("shopify-topic", b"orders/edited"), ("shopify-shop-domain", SHOP.encode()),
        ("shopify-webhook-id", b"w-1"), ("shopify-event-id", b"ev-w-1"),
        ("shopify-triggered-at", b"2026-11-28T15:00:00.000Z"), ("shopify-api-version", b"2025-10"),
    ]


async def test_run_ingest_serves_until_stopped(kafka_bootstrap: str) -> None:
    topic = new_topic_name()
    await create_topic(kafka_bootstrap, topic)
    port = free_port()
    config = Config(kafka=KafkaConfig(bootstrap=kafka_bootstrap, topic=topic),
                    ingest=IngestConfig(port=port, produce_timeout_s=2.0), shops=SHOPS)
    stop = asyncio.Event()
    task = asyncio.create_task(run_ingest(config, stop=stop))
    base = f"http://127.0.0.1:{port}"
    try:
        async with aiohttp.ClientSession() as http:
            for _ in range(100):  # the site opens first, then the producer connects
                with contextlib.suppress(aiohttp.ClientConnectionError):
                    async with http.get(f"{base}/healthz") as resp:
                        if resp.status == 200:
                            break
                await asyncio.sleep(0.05)
            body = order_body(31)
            async with http.post(f"{base}/webhooks/shopify", data=body, headers=webhook_headers(body)) as resp:
                assert resp.status == 200
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)
    [record] = await read_topic(kafka_bootstrap, topic)
    assert record.key == f"{SHOP}/31".encode() and record.value == body


async def test_run_ingest_without_a_broker_answers_503_and_stops_cleanly() -> None:
    port = free_port()
    config = Config(kafka=KafkaConfig(bootstrap=f"127.0.0.1:{free_port()}", topic="nowhere"),
                    ingest=IngestConfig(port=port, produce_timeout_s=0.5), shops=SHOPS)
    stop = asyncio.Event()
    task = asyncio.create_task(run_ingest(config, stop=stop))
    base = f"http://127.0.0.1:{port}"
    try:
        async with aiohttp.ClientSession() as http:
            for _ in range(100):
                with contextlib.suppress(aiohttp.ClientConnectionError):
                    async with http.get(f"{base}/healthz") as resp:
                        assert resp.status == 503
                        break
                await asyncio.sleep(0.05)
            body = order_body(32)
            async with http.post(f"{base}/webhooks/shopify", data=body, headers=webhook_headers(body)) as resp:
                assert (resp.status, await resp.json()) == (503, {"error": "unavailable"})
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)
