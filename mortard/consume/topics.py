"""Creating Kafka topics: the daemon's order and dead-letter topics, and the tests' and benchmarks' own."""
from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

import structlog
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError, TopicAlreadyExistsError

log = structlog.get_logger(__name__)


class TopicsMissing(Exception):
    """Topics do not exist and mortard was told not to create them (`[kafka] create_topics = "never"`),
    or the broker refused to create them (a replication factor it cannot meet, no permission)."""


_ALREADY_EXISTS = 36


def _refusals(response: Any) -> list[str]:
    """The per-topic errors of a CreateTopics answer: aiokafka returns them instead of raising."""
    return [f"{topic}: {message or f'error {code}'}" for topic, code, *rest in response.topic_errors
            for message in [rest[0] if rest else None] if code not in (0, _ALREADY_EXISTS)]


@asynccontextmanager
async def _admin(bootstrap: str, options: Mapping[str, Any] | None = None) -> AsyncIterator[AIOKafkaAdminClient]:
    # `options`: mortard.consume.security.kafka_client_options (TLS, SASL); it names the bootstrap too.
    admin = AIOKafkaAdminClient(**{"bootstrap_servers": bootstrap, **(options or {})})
    await admin.start()
    try:
        yield admin
    finally:
        await admin.close()


async def create_topic(bootstrap: str, name: str, partitions: int, *, replication_factor: int = 1) -> None:
    """Create one new topic; raises if it can't be made (or exists already)."""
    async with _admin(bootstrap) as admin:
        response = await admin.create_topics([NewTopic(name, num_partitions=partitions,
                                                       replication_factor=replication_factor)])
    refused = _refusals(response)
    if refused:
        raise TopicsMissing(f"Kafka refused to create {'; '.join(refused)}")


async def ensure_topics(bootstrap: str, topics: dict[str, int], *, replication_factor: int = 1,
                        create: bool = True, options: Mapping[str, Any] | None = None) -> None:
    """`topics`: name -> partitions. Existing topics are left as they are (never re-partitioned).
    With `create=False` a missing topic raises `TopicsMissing` instead of being created."""
    async with _admin(bootstrap, options) as admin:
        existing = set(await admin.list_topics())
        missing = [NewTopic(name, num_partitions=n, replication_factor=replication_factor)
                   for name, n in topics.items() if name not in existing]
        if missing and not create:
            raise TopicsMissing(f"Kafka topic(s) {', '.join(t.name for t in missing)} do not exist and "
                                "[kafka] create_topics = \"never\"; ask for them to be created")
        if missing:
            try:
                response = await admin.create_topics(missing)
            except TopicAlreadyExistsError:
                return
            except KafkaError as exc:
                # A managed cluster may forbid creating topics; the consumer still works if they exist.
                log.warning("topic_create_failed", error=repr(exc))
                return
            refused = _refusals(response)
            if refused:
                raise TopicsMissing(f"Kafka refused to create {'; '.join(refused)} "
                                    f"([kafka] replication_factor = {replication_factor})")
            log.info("topics_created", topics=[t.name for t in missing], replication_factor=replication_factor)
