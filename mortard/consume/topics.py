"""Creating Kafka topics: the daemon's order and dead-letter topics, and the tests' and benchmarks' own."""
from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import structlog
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError, TopicAlreadyExistsError

log = structlog.get_logger(__name__)


@asynccontextmanager
async def _admin(bootstrap: str) -> AsyncIterator[AIOKafkaAdminClient]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        yield admin
    finally:
        await admin.close()


async def create_topic(bootstrap: str, name: str, partitions: int, *, replication_factor: int = 1) -> None:
    """Create one new topic; raises if it can't be made (or exists already)."""
    async with _admin(bootstrap) as admin:
        await admin.create_topics([NewTopic(name, num_partitions=partitions, replication_factor=replication_factor)])


async def ensure_topics(bootstrap: str, topics: dict[str, int], *, replication_factor: int = 1) -> None:
    """`topics`: name -> partitions. Existing topics are left as they are (never re-partitioned)."""
    async with _admin(bootstrap) as admin:
        existing = set(await admin.list_topics())
        missing = [NewTopic(name, num_partitions=n, replication_factor=replication_factor)
                   for name, n in topics.items() if name not in existing]
        if missing:
            try:
                await admin.create_topics(missing)
                log.info("topics_created", topics=[t.name for t in missing])
            except TopicAlreadyExistsError:
                pass
            except KafkaError as exc:
                # A managed cluster may forbid creating topics; the consumer still works if they exist.
                log.warning("topic_create_failed", error=repr(exc))
