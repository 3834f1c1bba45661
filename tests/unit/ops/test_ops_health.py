from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
import pytest

from mortard.ops.health import OpsServer
from mortard.ops.metrics import Metrics

Start = Callable[..., Awaitable[OpsServer]]


@pytest.fixture
async def start_server() -> AsyncIterator[Start]:
    servers: list[OpsServer] = []

    async def start(**kwargs: Any) -> OpsServer:
        kwargs.setdefault("liveness", lambda: True)
        server = OpsServer(Metrics(), host="127.0.0.1", port=0, **kwargs)
        await server.start()
        servers.append(server)
        return server

    yield start
    for s in servers:
        await s.stop()


async def _get(server: OpsServer, path: str, **kw: Any) -> tuple[int, str, str]:
    async with aiohttp.ClientSession() as http:
        async with http.get(server.url + path, **kw) as resp:
            return resp.status, resp.headers["Content-Type"], await resp.text()


async def test_metrics_endpoint_serves_prometheus_text(start_server: Start) -> None:
    server = await start_server()
    assert server.port > 0
    status, ctype, body = await _get(server, "/metrics")
    assert status == 200
    assert ctype == "text/plain; version=0.0.4; charset=utf-8"
    assert "mortard_build_info" in body


async def test_metrics_endpoint_negotiates_openmetrics(start_server: Start) -> None:
    server = await start_server()
    status, ctype, body = await _get(
        server, "/metrics", headers={"Accept": "application/openmetrics-text; version=1.0.0"}
    )
    assert status == 200
    assert ctype.startswith("application/openmetrics-text")
    assert body.rstrip().endswith("# EOF")


async def test_readyz_names_the_failing_checks(start_server: Start) -> None:
    async def slow() -> bool:
        await asyncio.sleep(5)
        return True

    def boom() -> bool:
        raise ConnectionError("kafka down")

    server = await start_server(
        readiness_checks={"postgres": lambda: True, "kafka": boom, "heartland": slow, "flag": lambda: False},
        check_timeout=0.2,
    )
    status, _, body = await _get(server, "/readyz")
    assert status == 503
    data = json.loads(body)
    assert data["ready"] is False
    assert sorted(data["failed"]) == ["flag", "heartland", "kafka"]
    assert data["checks"]["postgres"] is True


async def test_readyz_200_when_all_checks_pass(start_server: Start) -> None:
    async def pool_ok() -> bool:
        return True

    server = await start_server(readiness_checks={"postgres": pool_ok})
    server.add_readiness_check("kafka", lambda: True)
    status, ctype, body = await _get(server, "/readyz")
    assert status == 200
    assert ctype.startswith("application/json")
    assert '"postgres": true' in body and '"kafka": true' in body


async def test_healthz_follows_liveness(start_server: Start) -> None:
    state = {"alive": True}
    server = await start_server(liveness=lambda: state["alive"])
    assert (await _get(server, "/healthz"))[0] == 200
    state["alive"] = False
    assert (await _get(server, "/healthz"))[0] == 503


async def test_healthz_is_503_when_liveness_raises(start_server: Start) -> None:
    def broken() -> bool:
        raise RuntimeError

    server = await start_server(liveness=broken)
    assert (await _get(server, "/healthz"))[0] == 503


async def test_port_before_start_raises() -> None:
    with pytest.raises(RuntimeError):
        _ = OpsServer(Metrics(), host="127.0.0.1", port=0).port


async def test_healthz_with_the_loop_monitor_as_liveness(start_server: Start) -> None:
    from mortard.ops.loop_monitor import LoopMonitor

    monitor = LoopMonitor(None, interval=0.01)
    server = await start_server(liveness=lambda: monitor.is_alive(max_age=1.0))
    assert (await _get(server, "/healthz"))[0] == 503  # monitor not started yet
    monitor.start()
    await asyncio.sleep(0.03)
    try:
        assert (await _get(server, "/healthz"))[0] == 200
    finally:
        await monitor.stop()
    assert (await _get(server, "/healthz"))[0] == 503
