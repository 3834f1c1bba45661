"""The container health check (`python -m mortard.ops.probe`) against real HTTP listeners: healthy
when the daemon's or ingest's ops port answers /healthz 200, unhealthy when neither does."""
from __future__ import annotations

import asyncio
import os
import subprocess
import sys

from aiohttp import web

from mortard.ops.probe import probe_urls
from mortard.testing.kafka import free_port


async def _listener(status: int) -> tuple[web.AppRunner, int]:
    async def healthz(_request: web.Request) -> web.Response:
        return web.json_response({}, status=status)

    app = web.Application()
    app.router.add_get("/healthz", healthz)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return runner, port


async def _probe(daemon_port: int, ingest_port: int) -> tuple[int, str]:
    env = {**os.environ, "MORTARD_DAEMON__OPS_PORT": str(daemon_port), "MORTARD_INGEST__OPS_PORT": str(ingest_port)}
    proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "mortard.ops.probe", env=env,
                                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out, err = await proc.communicate()
    return proc.returncode, (out + err).decode()


async def test_healthy_for_the_daemon_or_for_ingest_and_unhealthy_otherwise() -> None:
    up, up_port = await _listener(200)
    down, down_port = await _listener(503)
    closed = free_port()
    try:
        assert (await _probe(up_port, closed))[0] == 0          # the daemon's container
        assert (await _probe(closed, up_port))[0] == 0          # ingest's container
        code, text = await _probe(closed, down_port)
        assert code == 1 and f"{down_port}/healthz: 503" in text
        assert (await _probe(closed, free_port()))[0] == 1
    finally:
        await up.cleanup()
        await down.cleanup()


def test_urls_follow_the_env_overrides() -> None:
    assert probe_urls({}) == ["http://127.0.0.1:9464/healthz", "http://127.0.0.1:9465/healthz"]
    assert probe_urls({"MORTARD_HEALTH_URLS": "http://h:1/healthz"}) == ["http://h:1/healthz"]
