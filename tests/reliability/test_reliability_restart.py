"""A daemon restarted under the same `kafka.group_instance_id` takes its orders back at once, and
two live daemons never share one instance name (store/instance.py)."""
from __future__ import annotations

import asyncio
import time

from daemon_proc import DaemonProcess, write_config
from kafka_helpers import produce
from reliability_helpers import check_heartland, sandbox_state, settle, valid_orders

LEASE_S = 60.0   # the default: waiting it out would take a minute



async def test_a_killed_daemon_restarted_as_the_same_instance_resumes_its_leased_orders_at_once(
        tmp_path, db_url, pool, kafka_bootstrap, topic, sandbox_url, http):
    n = 30
    # Slow Heartland answers keep orders mid-run (and leased) when the daemon dies.
    await http.put(f"{sandbox_url}/_sandbox/faults", json={"global": {"latency_ms": 150}})
    cfg = write_config(tmp_path / "m.toml", db_url=db_url, bootstrap=kafka_bootstrap, topic=topic,
                       sandbox_url=sandbox_url, instance="daemon-1", daemon={"lease_s": LEASE_S})
    daemon = DaemonProcess(cfg, tmp_path / "daemon.log").start()
    try:
        hooks = valid_orders(n, start=8000)
        await produce(kafka_bootstrap, topic, hooks)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 30
        held = 0
        while loop.time() < deadline and held < 3:
            held = await pool.fetchval("SELECT count(*) FROM orders WHERE lease_owner = 'instance:daemon-1'")
            await asyncio.sleep(0.05)
        assert held >= 3, "no orders were leased mid-run"
        daemon.kill9()
        await http.put(f"{sandbox_url}/_sandbox/faults", json={"global": {"latency_ms": 0}})
        restarted = time.monotonic()
        daemon.start()
        rows = await settle(pool, n, timeout=LEASE_S / 2)
        took = time.monotonic() - restarted
    finally:
        daemon.stop()
    found = check_heartland(await sandbox_state(http, sandbox_url), {f"#{h.order_id}" for h in hooks})
    print(f"\n[restart as the same instance] {held} orders leased at the kill; all {len(rows)} settled "
          f"{took:.1f} s after the restart (lease {LEASE_S:.0f} s); {found}")
    assert took < LEASE_S / 2
    assert found["lost"] == 0 and found["duplicate_orders"] == 0 and found["duplicate_invoices"] == 0


async def test_a_second_live_daemon_with_the_same_instance_id_refuses_to_start(
        tmp_path, db_url, pool, kafka_bootstrap, topic, sandbox_url):
    cfg = write_config(tmp_path / "m.toml", db_url=db_url, bootstrap=kafka_bootstrap, topic=topic,
                       sandbox_url=sandbox_url, instance="daemon-1", daemon={"lease_s": 8.0})
    first = DaemonProcess(cfg, tmp_path / "first.log").start()
    second = DaemonProcess(cfg, tmp_path / "second.log")
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not await pool.fetchval(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND classid = 27759"):
            await asyncio.sleep(0.1)
        assert first.alive, (tmp_path / "first.log").read_text()[-2000:]
        second.start()
        assert second.proc is not None
        code = await asyncio.get_running_loop().run_in_executor(None, second.proc.wait, 30)
        said = (tmp_path / "second.log").read_text()
        first_alive = first.alive
    finally:
        second.stop()
        first.stop()
    assert first_alive and code == 1 and "another mortard daemon is running as 'instance:daemon-1'" in said
