"""Real servers for the suite: PostgreSQL, a Kafka-protocol broker, and the Heartland sandbox.

Each is started once per session unless the environment points at one already running
(`MORTARD_TEST_DATABASE_URL`, `KAFKA_BOOTSTRAP`), and stopped at the end even when tests fail.
Each test gets a fresh database cloned from a migrated template, and its own Kafka topic.
"""
from __future__ import annotations

import itertools
import os
import uuid
from collections.abc import AsyncIterator, Iterator

import aiohttp
import asyncpg
import pytest
from hypothesis import settings as hypothesis_settings

from mortard.testing import EmbeddedBroker, EmbeddedPostgres
from mortard.store.db import create_pool, migrate
from stack import start_sandbox

# Property tests: no deadlines (CI machines vary), derandomized in CI so a run is reproducible.
hypothesis_settings.register_profile("ci", deadline=None, derandomize=True, print_blob=True)
hypothesis_settings.register_profile("dev", deadline=None)
hypothesis_settings.load_profile("ci" if os.environ.get("CI") else "dev")

_TEMPLATE = "mortard_template"
_counter = itertools.count(1)


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    external = os.environ.get("MORTARD_TEST_DATABASE_URL")
    if external:
        yield external
        return
    server = EmbeddedPostgres().start()
    try:
        yield server.url
    finally:
        server.stop()


def _with_db(url: str, name: str) -> str:
    base, _, _ = url.rpartition("/")
    return f"{base}/{name}"


@pytest.fixture(scope="session")
async def pg_template(pg_url: str) -> str:
    conn = await asyncpg.connect(pg_url)
    try:
        await conn.execute(f"DROP DATABASE IF EXISTS {_TEMPLATE}")
        await conn.execute(f"CREATE DATABASE {_TEMPLATE}")
    finally:
        await conn.close()
    conn = await asyncpg.connect(_with_db(pg_url, _TEMPLATE))
    try:
        await migrate(conn)
    finally:
        await conn.close()
    return _TEMPLATE


@pytest.fixture
async def db_url(pg_url: str, pg_template: str) -> AsyncIterator[str]:
    """A fresh, migrated database for this test."""
    name = f"t{os.getpid()}_{next(_counter)}"
    conn = await asyncpg.connect(pg_url)
    try:
        await conn.execute(f"CREATE DATABASE {name} TEMPLATE {pg_template}")
    finally:
        await conn.close()
    yield _with_db(pg_url, name)
    conn = await asyncpg.connect(pg_url)
    try:
        await conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    finally:
        await conn.close()


@pytest.fixture
async def pool(db_url: str) -> AsyncIterator[asyncpg.Pool]:
    p = await create_pool(db_url, min_size=1, max_size=10)
    yield p
    await p.close()


@pytest.fixture(scope="session")
def kafka_bootstrap() -> Iterator[str]:
    """A broker with everything the daemon may use (noida-db), or KAFKA_BOOTSTRAP."""
    external = os.environ.get("KAFKA_BOOTSTRAP")
    if external:
        yield external
        return
    broker = EmbeddedBroker("noida").start()
    try:
        yield broker.bootstrap
    finally:
        broker.stop()


@pytest.fixture(scope="session")
def noida_bootstrap(kafka_bootstrap: str) -> str:
    """The primary broker under its own name, for tests that parametrize over brokers."""
    return kafka_bootstrap


@pytest.fixture(scope="session")
def tansu_bootstrap() -> Iterator[str]:
    """Tansu, a second independent Kafka implementation, for the cross-check runs."""
    broker = EmbeddedBroker("tansu").start()
    try:
        yield broker.bootstrap
    finally:
        broker.stop()


@pytest.fixture
def topic_name() -> str:
    return f"orders-{uuid.uuid4().hex[:10]}"


@pytest.fixture(scope="session")
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
        yield session


@pytest.fixture(scope="session")
async def sandbox_url() -> AsyncIterator[str]:
    """A Heartland sandbox on a real loopback port, shared by the session (tests reset it)."""
    runner, url = await start_sandbox()
    yield url
    await runner.cleanup()
