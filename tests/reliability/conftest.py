from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from stack import start_sandbox


@pytest.fixture
async def sandbox_url() -> AsyncIterator[str]:
    """A sandbox of this test's own: these tests leave faults and state behind."""
    runner, url = await start_sandbox()
    yield url
    await runner.cleanup()
