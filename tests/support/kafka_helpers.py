"""Producing webhooks straight to Kafka, and reading topics back, for the integration tests."""
from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.errors import KafkaError

from mortard.consume import topics
from mortard.testing.shopify import Webhook


async def create_topic(bootstrap: str, name: str, partitions: int = 4) -> None:
    await topics.create_topic(bootstrap, name, partitions)


@asynccontextmanager
async def started_producer(bootstrap: str, *, start_timeout: float = 30.0,
                           **options: Any) -> AsyncIterator[AIOKafkaProducer]:
    """An acks=all producer, started as soon as the broker takes it (it may still be coming up or
    restarting), stopped on the way out."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + start_timeout
    while True:
        producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", **options)
        try:
            await producer.start()
            break
        except (KafkaError, OSError):
            await producer.stop()
            if loop.time() > deadline:
                raise
            await asyncio.sleep(0.3)
    try:
        yield producer
    finally:
        await producer.stop()


async def produce(bootstrap: str, topic: str, hooks: Sequence[Webhook], **options: Any) -> None:
    await produce_raw(bootstrap, topic, [(h.key, h.body, h.kafka_headers()) for h in hooks], **options)


async def produce_raw(bootstrap: str, topic: str, records: Sequence[tuple[bytes | None, bytes | None, list]],
                      **options: Any) -> None:
    async with started_producer(bootstrap, **options) as producer:
        futures = [await producer.send(topic, value=v, key=k, headers=h) for k, v, h in records]
        await asyncio.gather(*futures)


async def read_all(bootstrap: str, topic: str, expect: int, timeout: float = 15.0) -> list:
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest",
                                enable_auto_commit=False, group_id=None)
    await consumer.start()
    out: list = []
    try:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while len(out) < expect and loop.time() < deadline:
            batch = await consumer.getmany(timeout_ms=200)
            for recs in batch.values():
                out.extend(recs)
    finally:
        await consumer.stop()
    return out


async def committed_offsets(bootstrap: str, group: str, topic: str, partitions: int) -> dict[int, int]:
    from aiokafka import TopicPartition
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False)
    await consumer.start()
    try:
        out = {}
        for p in range(partitions):
            off = await consumer.committed(TopicPartition(topic, p))
            out[p] = off or 0
        return out
    finally:
        await consumer.stop()
