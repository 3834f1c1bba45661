from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from stack import Stack, make_stack


@pytest.fixture
async def make(db_url, kafka_bootstrap, http, sandbox_url, pool) -> AsyncIterator:
    """Build a stack (optionally with shop settings) on a freshly reset sandbox; stops its daemon."""
    async with http.post(f"{sandbox_url}/_sandbox/reset") as r:
        r.raise_for_status()
    async with http.put(f"{sandbox_url}/_sandbox/faults", json={"global": {}}) as r:
        pass
    made: list[Stack] = []

    async def factory(**kw) -> Stack:
        s = await make_stack(db_url, kafka_bootstrap, http, sandbox_url, pool, **kw)
        made.append(s)
        return s

    yield factory
    for s in made:
        await s.stop_daemon()
