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
from mortard.ops.metrics import Metrics


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
    port, ops_port = free_port(), free_port()
    config = Config(kafka=KafkaConfig(bootstrap=kafka_bootstrap, topic=topic),
                    ingest=IngestConfig(port=port, produce_timeout_s=2.0, ops_port=ops_port), shops=SHOPS)
    stop = asyncio.Event()
    task = asyncio.create_task(run_ingest(config, metrics=Metrics(), stop=stop))
    base, ops = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{ops_port}"
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
            async with http.get(f"{ops}/readyz") as resp:
                assert (resp.status, (await resp.json())["checks"]) == (200, {"kafka": True})
            async with http.get(f"{ops}/metrics") as resp:
                text = await resp.text()
            # Only ingest's own series on its ops port; nothing on the public one.
            assert 'mortard_ingest_requests_total{outcome="accepted",topic="orders/create"} 1.0' in text
            assert "mortard_ingest_produce_seconds_count 1.0" in text and "process_cpu_seconds_total" in text
            assert "mortard_consumer_lag" not in text and "mortard_orders" not in text
            assert "mortard_heartland" not in text and "mortard_events_consumed" not in text
            async with http.get(f"{base}/metrics") as resp:
                assert resp.status == 404
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)
    [record] = await read_topic(kafka_bootstrap, topic)
    assert record.key == f"{SHOP}/31".encode() and record.value == body


async def test_run_ingest_without_a_broker_answers_503_and_stops_cleanly() -> None:
    port, ops_port = free_port(), free_port()
    config = Config(kafka=KafkaConfig(bootstrap=f"127.0.0.1:{free_port()}", topic="nowhere"),
                    ingest=IngestConfig(port=port, produce_timeout_s=0.5, ops_port=ops_port), shops=SHOPS)
    stop = asyncio.Event()
    task = asyncio.create_task(run_ingest(config, stop=stop))
    base, ops = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{ops_port}"
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
            async with http.get(f"{ops}/readyz") as resp:
                assert (resp.status, (await resp.json())["failed"]) == (503, ["kafka"])
            async with http.get(f"{ops}/healthz") as resp:
                assert resp.status == 200        # alive: waiting for the broker is not a reason to restart
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)


async def test_ingest_readiness_follows_the_broker(private_broker) -> None:
    """/readyz asks the broker each time: 503 while the broker is down, 200 once it is back."""
    port, ops_port = free_port(), free_port()
    config = Config(kafka=KafkaConfig(bootstrap=private_broker.bootstrap, topic=new_topic_name()),
                    ingest=IngestConfig(port=port, produce_timeout_s=1.0, ops_port=ops_port), shops=SHOPS)
    stop = asyncio.Event()
    task = asyncio.create_task(run_ingest(config, stop=stop))

    async def ready(want: int, within: float) -> int:
        status = 0
        for _ in range(int(within / 0.1)):
            with contextlib.suppress(aiohttp.ClientConnectionError):
                async with http.get(f"http://127.0.0.1:{ops_port}/readyz") as resp:
                    status = resp.status
                    if status == want:
                        return status
            await asyncio.sleep(0.1)
        return status

    try:
        async with aiohttp.ClientSession() as http:
            assert await ready(200, 10) == 200
            private_broker.stop(kill=True, remove=False)
            assert await ready(503, 10) == 503
            private_broker.start()
            assert await ready(200, 30) == 200
    finally:
        stop.set()
        await asyncio.wait_for(task, 15)
