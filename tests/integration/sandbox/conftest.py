"""A sandbox on a real loopback port (session-wide, reset before each test)."""
from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest

from mortard.sandbox import create_app
from sandbox_helpers import Api, Sandbox, start


@pytest.fixture(scope="session")
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as session:
        yield session


@pytest.fixture(scope="session")
async def server(http: aiohttp.ClientSession) -> AsyncIterator[Sandbox]:
    app = create_app()
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
