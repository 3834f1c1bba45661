"""Topic creation on a real broker: the replication factor reaches the broker, and `create=False`
(`[kafka] create_topics = "never"`) refuses to create anything."""
from __future__ import annotations

import uuid

import pytest
from aiokafka.admin import AIOKafkaAdminClient

from mortard.consume.topics import TopicsMissing, create_topic, ensure_topics


async def _topics(bootstrap: str) -> set[str]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        return set(await admin.list_topics())
    finally:
        await admin.close()


async def test_create_never_refuses_and_leaves_the_cluster_alone(kafka_bootstrap):
    name = "absent-" + uuid.uuid4().hex[:8]
    with pytest.raises(TopicsMissing, match=name):
        await ensure_topics(kafka_bootstrap, {name: 4}, create=False)
    assert name not in await _topics(kafka_bootstrap)


async def test_create_never_passes_when_the_topics_exist(kafka_bootstrap):
    name = "present-" + uuid.uuid4().hex[:8]
    await create_topic(kafka_bootstrap, name, 2)
    await ensure_topics(kafka_bootstrap, {name: 2}, create=False)


async def test_a_replication_factor_the_broker_cannot_meet_is_refused_loudly(noida_bootstrap):
    # noida-db answers CreateTopics with error 38 (aiokafka returns it rather than raising); a
    # single-broker cluster cannot hold 3 replicas, so the refusal proves the factor reached the broker.
    name = "rf3-" + uuid.uuid4().hex[:8]
    with pytest.raises(TopicsMissing, match=f"{name}: .*replication factor of 3"):
        await ensure_topics(noida_bootstrap, {name: 1}, replication_factor=3)
    with pytest.raises(TopicsMissing, match="replication"):
        await create_topic(noida_bootstrap, "x" + name, 1, replication_factor=3)


async def test_the_replication_factor_is_the_one_configured(tansu_bootstrap):
    # Tansu accepts any factor and reports that many replicas back.
    name = "rf3-" + uuid.uuid4().hex[:8]
    await ensure_topics(tansu_bootstrap, {name: 2}, replication_factor=3)
    admin = AIOKafkaAdminClient(bootstrap_servers=tansu_bootstrap)
    await admin.start()
    try:
        [described] = await admin.describe_topics([name])
    finally:
        await admin.close()
    assert [len(p["replicas"]) for p in described["partitions"]] == [3, 3]
