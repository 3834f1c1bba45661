from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest

from kafka_helpers import create_topic
from stack import start_sandbox


@pytest.fixture
async def sandbox_url() -> AsyncIterator[str]:
    """A sandbox of this test's own: these tests leave faults and state behind."""
    runner, url = await start_sandbox()
    yield url
    await runner.cleanup()


@pytest.fixture
async def topic(kafka_bootstrap) -> str:
    """A fresh 4-partition topic for one test's daemons."""
    name = f"orders-{uuid.uuid4().hex[:10]}"
    await create_topic(kafka_bootstrap, name, partitions=4)
    return name
