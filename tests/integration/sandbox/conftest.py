"""A sandbox on a real loopback port (session-wide, reset before each test).

These tests check the sandbox's model (stock, status machine, invoicing, tickets), so its records
are read with every `Dialect` assumption on (`ASSUMPTIONS`: lines with their invoiced quantity,
embedded lines, line deletes, order-line links on invoice lines, ticket parents). What the API shows
by default, the documented fields only, is checked in test_sandbox_documented.py."""
from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest

from mortard.heartland_contract.dialect import ASSUMPTIONS, DEFAULT_DIALECT
from mortard.sandbox import create_app
from sandbox_helpers import Api, Sandbox, start


@pytest.fixture(scope="session")
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as session:
        yield session


@pytest.fixture(scope="session")
async def server(http: aiohttp.ClientSession) -> AsyncIterator[Sandbox]:
    app = create_app(dialect=DEFAULT_DIALECT.with_overrides(ASSUMPTIONS))
    runner, root = await start(app)
    yield Sandbox(http, root, app)
    await runner.cleanup()


@pytest.fixture
async def sandbox(server: Sandbox) -> Sandbox:
    await server.control("POST", "reset")
    return server


@pytest.fixture
def acme(sandbox: Sandbox) -> Api:
    return sandbox.api("acme")
