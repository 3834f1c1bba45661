"""Fault injection: rate limit, 5xx, timeouts, commit-then-drop, latency; all deterministic."""
from __future__ import annotations

import asyncio
import time

import aiohttp
import pytest

from sandbox_helpers import Api, Sandbox


async def test_rate_limit_answers_429_with_retry_after(sandbox: Sandbox, acme: Api) -> None:
    await sandbox.control("PUT", "faults", {"accounts": {"acme": {"rate_limit_rps": 0.5, "rate_limit_burst": 3}}})
    statuses = [(await acme.call("GET", "/items/1")) for _ in range(5)]
    assert [r.status for r in statuses] == [200, 200, 200, 429, 429]
    limited = statuses[3]
    assert limited.json["error"] == "rate_limited"
    assert int(limited.headers["Retry-After"]) >= 1 and limited.headers["Retry-After"].isdigit()
    # other accounts have their own bucket (no limit here)
    assert (await sandbox.api("globex").call("GET", "/items/1")).status == 200
    state = await sandbox.control("GET", "requests")
    assert state["acme"]["requests"]["GET /api/items/{id}"] == {"200": 3, "429": 2}
    assert state["acme"]["faults_injected"]["rate_limited"] == 2


async def test_rate_limit_refills_over_time(sandbox: Sandbox, acme: Api) -> None:
    await sandbox.control("PUT", "faults", {"global": {"rate_limit_rps": 20, "rate_limit_burst": 1}})
    assert (await acme.call("GET", "/items/1")).status == 200
    assert (await acme.call("GET", "/items/1")).status == 429
    await asyncio.sleep(0.06)
    assert (await acme.call("GET", "/items/1")).status == 200


async def test_injected_5xx_runs_nothing(sandbox: Sandbox, acme: Api) -> None:
    await sandbox.control("PUT", "faults", {"global": {"error_rate": 1.0, "routes": ["POST /api/customers"]}})
    reply = await acme.call("POST", "/customers", {"first_name": "A"})
    assert reply.status == 503 and reply.json["error"] == "server_error"
    assert (await acme.get("/customers"))["total"] == 0  # other routes unaffected, nothing created


async def test_error_rate_is_deterministic_for_a_seed(sandbox: Sandbox, acme: Api) -> None:
    async def run() -> list[int]:
        await sandbox.control("POST", "reset")
        await sandbox.control("PUT", "faults", {"seed": 42, "global": {"error_rate": 0.5, "error_status": 500}})
        return [(await acme.call("GET", "/items/1")).status for _ in range(20)]

    first = await run()
    assert set(first) == {200, 500}
    assert await run() == first


async def test_timeout_holds_the_request(sandbox: Sandbox, acme: Api) -> None:
    await sandbox.control("PUT", "faults", {"global": {"timeout_rate": 1.0, "timeout_seconds": 30}})
    started = time.monotonic()
    with pytest.raises(asyncio.TimeoutError):
        async with sandbox.http.get(f"{acme.base}/items/1", headers={"Authorization": f"Bearer {acme.token}"},
                                    timeout=aiohttp.ClientTimeout(total=0.3)):
            pass
    assert time.monotonic() - started < 2
    await sandbox.control("PUT", "faults", {"global": {"timeout_rate": 0.0}})
    assert (await acme.call("GET", "/items/1")).status == 200


async def test_commit_then_drop_applies_the_mutation(sandbox: Sandbox, acme: Api) -> None:
    await sandbox.control("PUT", "faults", {"accounts": {"acme": {"drop_rate": 1.0}}})
    with pytest.raises(aiohttp.ClientConnectionError):
        await acme.call("POST", "/customers", {"first_name": "Lost", "email": "lost@example.com"})
    assert (await acme.get("/customers", email="lost@example.com"))["total"] == 1  # GETs are never dropped
    counts = await sandbox.control("GET", "requests")
    assert counts["acme"]["requests"]["POST /api/customers"] == {"201": 1}
    assert counts["acme"]["faults_injected"]["dropped"] == 1
    await sandbox.control("PUT", "faults", {"accounts": {"acme": None}})
    assert (await acme.call("POST", "/customers", {"first_name": "B"})).status == 201


async def test_latency_is_added(sandbox: Sandbox, acme: Api) -> None:
    await sandbox.control("PUT", "faults", {"global": {"latency_ms": 150, "jitter_ms": 20}})
    started = time.monotonic()
    assert (await acme.call("GET", "/items/1")).status == 200
    assert time.monotonic() - started >= 0.15


async def test_faults_from_create_app_survive_reset(http: aiohttp.ClientSession) -> None:
    from sandbox_helpers import start
    from mortard.sandbox import create_app
    app = create_app(faults={"accounts": {"globex": {"error_rate": 1.0}}})
    runner, root = await start(app)
    try:
        box = Sandbox(http, root, app)
        await box.control("POST", "reset")
        assert (await box.api("globex").call("GET", "/items/1")).status == 503
        assert (await box.api("acme").call("GET", "/items/1")).status == 200
    finally:
        await runner.cleanup()


async def test_bad_fault_settings_are_400(sandbox: Sandbox) -> None:
    for body in ({"global": {"error_rate": 2}}, {"global": {"nope": 1}}, {"accounts": {"nobody": {}}}):
        async with sandbox.http.put(f"{sandbox.root}/_sandbox/faults", json=body) as resp:
            assert resp.status in (400, 404), body
