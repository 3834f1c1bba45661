"""A consumer group that never finishes its rebalance (noida-db never evicts a member killed with -9,
so the group waits for it for ever): the daemon joining it must say it is not ready, drop the lag
series of partitions it gave up, and stop within its drain budget when asked."""
from __future__ import annotations

import asyncio
import json
import socket
import time

import aiohttp

from daemon_proc import DaemonProcess, write_config
from kafka_helpers import produce
from reliability_helpers import settle, valid_orders


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def _get(http: aiohttp.ClientSession, url: str) -> tuple[int, str]:
    try:
        async with http.get(url, timeout=aiohttp.ClientTimeout(total=3)) as r:
            return r.status, await r.text()
    except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
        return 0, repr(exc)


async def _wait_for(http, url, want, timeout: float) -> tuple[int, str]:
    deadline = time.monotonic() + timeout
    status, body = 0, ""
    while time.monotonic() < deadline:
        status, body = await _get(http, url)
        if want(status, body):
            return status, body
        await asyncio.sleep(0.3)
    return status, body


def _configs(tmp_path, n, *, db_url, bootstrap, topic, sandbox_url):
    ports = [_free_port() for _ in range(n)]
    configs = []
    for i, port in enumerate(ports):
        cfg = write_config(tmp_path / f"m{i}.toml", db_url=db_url, bootstrap=bootstrap, topic=topic,
                           sandbox_url=sandbox_url, instance=f"stuck-{i}",
                           daemon={"drain_timeout_s": 5, "startup_timeout_s": 20, "ops_port": port})
        cfg.write_text(cfg.read_text().replace("[kafka]\n", "[kafka]\nmax_unassigned_s = 3.0\n", 1).replace('level = "warning"', 'level = "info"'))
        configs.append(cfg)
    return ports, configs


async def test_a_daemon_whose_group_gets_stuck_in_rebalance_stops_being_ready_and_stops_in_time(
        tmp_path, db_url, pool, noida_bootstrap, topic, sandbox_url, http):
    ports, configs = _configs(tmp_path, 3, db_url=db_url, bootstrap=noida_bootstrap, topic=topic,
                              sandbox_url=sandbox_url)
    daemons = [DaemonProcess(c, tmp_path / f"d{i}.log") for i, c in enumerate(configs)]
    try:
        daemons[0].start()
        daemons[1].start()
        await produce(noida_bootstrap, topic, valid_orders(6, start=7000))
        await settle(pool, 6, timeout=60)
        for port in ports[:2]:        # both hold partitions and say so
            status, body = await _wait_for(http, f"http://127.0.0.1:{port}/metrics",
                                           lambda s, b: "mortard_consumer_lag{" in b, 30)
            assert "mortard_consumer_lag{" in body
            assert (await _get(http, f"http://127.0.0.1:{port}/readyz"))[0] == 200
        daemons[0].kill9()            # noida keeps it in the group for ever
        daemons[2].start()            # its join starts a rebalance that waits for the dead member
        url = f"http://127.0.0.1:{ports[1]}/readyz"
        status, body = await _wait_for(http, url, lambda s, b: s == 503, 60)
        print(f"\n[stuck group] the surviving daemon's /readyz: {status} {body}")
        assert status == 503 and json.loads(body)["failed"] == ["kafka"]
        metrics = (await _get(http, f"http://127.0.0.1:{ports[1]}/metrics"))[1]
        assert "mortard_consumer_lag{" not in metrics      # the revoked partitions' series are gone
        for d in daemons[1:]:
            code, took = d.terminate(timeout=40)
            print(f"[stuck group] SIGTERM -> exit {code} in {took:.1f}s (drain budget 5s)")
            assert took < 5 + 12
    finally:
        for d in daemons:
            d.stop()


async def test_a_daemon_in_a_stuck_rebalance_is_not_ready_and_stops_in_time(
        tmp_path, db_url, pool, noida_bootstrap, topic, sandbox_url, http):
    ports = [_free_port(), _free_port()]
    daemon = {"drain_timeout_s": 5, "startup_timeout_s": 20}
    configs = []
    for i, port in enumerate(ports):
        cfg = write_config(tmp_path / f"m{i}.toml", db_url=db_url, bootstrap=noida_bootstrap, topic=topic,
                           sandbox_url=sandbox_url, instance=f"stuck-{i}",
                           daemon={**daemon, "ops_port": port})
        cfg.write_text(cfg.read_text().replace("[kafka]\n", "[kafka]\nmax_unassigned_s = 3.0\n", 1).replace('level = "warning"', 'level = "info"'))
        configs.append(cfg)
    first = DaemonProcess(configs[0], tmp_path / "first.log").start()
    second = DaemonProcess(configs[1], tmp_path / "second.log")
    try:
        await produce(noida_bootstrap, topic, valid_orders(6, start=7000))
        await settle(pool, 6, timeout=60)
        ready = f"http://127.0.0.1:{ports[0]}/readyz"
        status, body = await _wait_for(http, ready, lambda s, _: s == 200, 20)
        assert status == 200, body
        # Lag is observed after each periodic commit, so its series may trail readiness by an interval.
        lag = await _wait_for(http, f"http://127.0.0.1:{ports[0]}/metrics",
                              lambda s, b: "mortard_consumer_lag{" in b, 20)
        assert "mortard_consumer_lag{" in lag[1]
        first.kill9()             # noida keeps it in the group for ever: the next join never completes
        second.start()
        url = f"http://127.0.0.1:{ports[1]}/readyz"
        status, body = await _wait_for(http, url, lambda s, b: s == 503 and '"kafka": false' in b, 40)
        print(f"\n[stuck group] second daemon /readyz: {status} {body}")
        assert status == 503 and json.loads(body)["failed"] == ["kafka"]
        metrics = (await _get(http, f"http://127.0.0.1:{ports[1]}/metrics"))[1]
        assert "mortard_consumer_lag{" not in metrics      # no lag 0 claimed for partitions it lacks
        code, took = second.terminate(timeout=40)
        print(f"[stuck group] SIGTERM -> exit {code} in {took:.1f}s (drain budget 5s)")
        assert took < 5 + 12
    finally:
        first.stop()
        second.stop()
