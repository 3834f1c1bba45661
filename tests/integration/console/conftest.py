"""The console on a real loopback port over a fresh Postgres (`serve_console(cfg)`), and browsers for it."""
from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import asyncpg
import pytest
from aiohttp.test_utils import TestServer

from console_support import Browser, console_config
from mortard.config import Config
from mortard.console.app import build_app
from mortard.console.state import STATE


@pytest.fixture
async def serve_console(pool: asyncpg.Pool) -> AsyncIterator[Callable[..., Any]]:
    """serve_console(cfg) -> base URL of the console on a real loopback port; new_browser() per user."""
    servers: list[TestServer] = []
    sessions: list[aiohttp.ClientSession] = []

    async def start(cfg: Config, clock: Callable[[], float] | None = None) -> Callable[[], Browser]:
        app = build_app(cfg, pool)
        if clock is not None:       # sessions' expiry on the test's clock, not the wall's
            app[STATE].signer.clock = clock
        server = TestServer(app, host="127.0.0.1")
        await server.start_server()
        servers.append(server)
        base = str(server.make_url("")).rstrip("/")

        def browser() -> Browser:
            s = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
            sessions.append(s)
            return Browser(base, s)
        return browser

    yield start
    for s in sessions:
        await s.close()
    for server in servers:
        await server.close()


@pytest.fixture
async def console(serve_console: Callable[..., Any], db_url: str) -> Callable[[], Browser]:
    return await serve_console(console_config(db_url))


