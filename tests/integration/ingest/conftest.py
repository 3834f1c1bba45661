"""A Kafka-protocol broker for the ingest tests: `KAFKA_BOOTSTRAP` when set, else an embedded noida-db."""
from __future__ import annotations

from collections.abc import Iterator

import pytest

from mortard.testing.kafka import EmbeddedBroker


@pytest.fixture
def private_broker() -> Iterator[EmbeddedBroker]:
    """A noida-db of this test's own, for tests that kill and restart it."""
    broker = EmbeddedBroker("noida").start()
    try:
        yield broker
    finally:
        broker.stop(kill=True)
