"""`mortard console` serves on the configured loopback port until told to stop."""
from __future__ import annotations

import asyncio

import aiohttp

from console_support import console_config
from mortard.console.app import serve
from mortard.testing.kafka import free_port


async def test_serve_listens_on_its_own_port_and_stops_cleanly(db_url):
    port = free_port()
    cfg = console_config(db_url, port=port)
    assert cfg.console.host == "127.0.0.1"
    stop = asyncio.Event()
    task = asyncio.create_task(serve(cfg, stop))
    try:
        async with aiohttp.ClientSession() as http:
            for _ in range(100):
                try:
                    async with http.get(f"http://127.0.0.1:{port}/", allow_redirects=False) as r:
                        assert r.status == 303 and r.headers["Location"].startswith("/login")
                        break
                except aiohttp.ClientConnectorError:
                    await asyncio.sleep(0.05)
            else:
                raise AssertionError("the console never listened")
            async with http.get(f"http://127.0.0.1:{port}/login") as r:
                assert r.status == 200 and "Log in" in await r.text()
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)
    assert task.exception() is None
