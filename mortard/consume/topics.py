"""Create the order topic and its dead-letter topic when they don't exist yet."""
from __future__ import annotations

import structlog
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError, TopicAlreadyExistsError

log = structlog.get_logger(__name__)


async def ensure_topics(bootstrap: str, topics: dict[str, int]) -> None:
    """`topics`: name -> partitions. Existing topics are left as they are (never re-partitioned)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [NewTopic(name, num_partitions=n, replication_factor=1)
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
    finally:
        await admin.close()
