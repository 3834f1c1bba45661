from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest

from stack import start_sandbox


@pytest.fixture(scope="session")
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
        yield session


@pytest.fixture
async def sandbox_url(http) -> AsyncIterator[str]:
    runner, url = await start_sandbox()
    yield url
    await runner.cleanup()
