"""Shared bits of the ingest integration tests (not a test module)."""
from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from aiohttp import web
from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition

import kafka_helpers
from mortard.config import Secret, ShopConfig
from mortard.testing.kafka import free_port
from mortard.ingest import KafkaSink, RecordSink, create_ingest_app, sign

SHOP = "shop-a.myshopify.com"
SECRET = "integration-secret"
PARTITIONS = 4
SHOPS = {SHOP: ShopConfig(domain=SHOP, heartland_account="acct", webhook_secret=Secret(SECRET))}


def order_body(order_id: int) -> bytes:
    """A realistic-looking order payload of about 1.5 KB."""
    lines = [{"id": order_id * 10 + i, "variant_id": 4000 + i, "sku": f"SKU-{i}", "title": f"Item {i}",
              "quantity": i + 1, "price": "19.95", "tax_lines": [{"price": "1.20", "rate": 0.06}]}
             for i in range(5)]
    order = {"id": order_id, "name": f"#{order_id}", "updated_at": "2026-11-28T10:00:00-05:00",
             "currency": "USD", "total_price": "299.25", "financial_status": "paid",
             "email": "buyer@example.com", "line_items": lines}
    return json.dumps(order).encode()


def webhook_headers(body: bytes, *, topic: str = "orders/create", webhook_id: str = "wh") -> dict[str, str]:
    return {"Content-Type": "application/json", "X-Shopify-Topic": topic,
            "X-Shopify-Shop-Domain": SHOP, "X-Shopify-Hmac-Sha256": sign(body, SECRET),
            "X-Shopify-Webhook-Id": webhook_id, "X-Shopify-Event-Id": f"ev-{webhook_id}",
            "X-Shopify-Triggered-At": "2026-11-28T15:00:00.000Z", "X-Shopify-API-Version": "2025-10"}


@asynccontextmanager
async def serve_ingest(bootstrap: str, topic: str, *, produce_timeout_s: float = 3.0,
                       idempotent: bool = True,
                       wrap: Callable[[KafkaSink], RecordSink] | None = None) -> AsyncIterator[str]:
    """The ingest app with a real KafkaSink (optionally wrapped) on a loopback port; yields the URL."""
    sink = KafkaSink(bootstrap, idempotent=idempotent, send_timeout_s=produce_timeout_s)
    await sink.start()
    app = create_ingest_app(SHOPS, wrap(sink) if wrap else sink, topic=topic, max_body_bytes=2 * 1024 * 1024,
                            produce_timeout_s=produce_timeout_s)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = free_port()
    site = web.TCPSite(runner, "127.0.0.1", port)
    await site.start()
    try:
        yield f"http://127.0.0.1:{port}/webhooks/shopify"
    finally:
        await runner.cleanup()
        await sink.stop()


def new_topic_name() -> str:
    return f"ingest-test-{uuid.uuid4().hex[:10]}"


async def create_topic(bootstrap: str, topic: str, partitions: int = PARTITIONS) -> None:
    await kafka_helpers.create_topic(bootstrap, topic, partitions)


async def read_topic(bootstrap: str, topic: str, *, timeout: float = 15.0) -> list[ConsumerRecord]:
    """Every record on `topic`, from the start up to the end offsets seen when called."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False,
                                auto_offset_reset="earliest", group_id=None)
    await consumer.start()
    records: list[ConsumerRecord] = []
    try:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        partitions: set[int] | None = None
        while not partitions and loop.time() < deadline:
            await consumer.topics()  # refreshes the metadata
            partitions = consumer.partitions_for_topic(topic)
            if not partitions:
                await asyncio.sleep(0.1)
        tps = [TopicPartition(topic, p) for p in sorted(partitions or ())]
        consumer.assign(tps)
        await consumer.seek_to_beginning()
        ends = await consumer.end_offsets(tps)
        while loop.time() < deadline:
            positions = [await consumer.position(tp) for tp in tps]
            if all(pos >= ends[tp] for pos, tp in zip(positions, tps)):
                break
            batch = await consumer.getmany(timeout_ms=100)
            for recs in batch.values():
                records.extend(recs)
    finally:
        await consumer.stop()
    return records
