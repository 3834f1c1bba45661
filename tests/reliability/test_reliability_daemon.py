"""Crashes, faults and shutdowns of the real daemon process: nothing lost, nothing duplicated."""
from __future__ import annotations

import asyncio
import random
import uuid
from collections import Counter


from daemon_proc import DaemonProcess, write_config
from kafka_helpers import committed_offsets, create_topic, produce
from reliability_helpers import check_heartland, sandbox_state, settle, valid_orders
from stack import Stack, stack_config

def names(*batches: list) -> set[str]:
    """The Heartland order numbers (public ids) the given webhooks must end up as."""
    return {f"#{h.order_id}" for hooks in batches for h in hooks}



async def test_kill_9_at_random_moments_loses_and_duplicates_nothing(
        tmp_path, db_url, pool, kafka_bootstrap, topic, sandbox_url, http):
    n = 80
    await http.put(f"{sandbox_url}/_sandbox/faults", json={"global": {"latency_ms": 4, "jitter_ms": 4}})
    # Static membership: the restarted daemon takes its old place in the group at once.
    cfg = write_config(tmp_path / "m.toml", db_url=db_url, bootstrap=kafka_bootstrap, topic=topic,
                       sandbox_url=sandbox_url, instance="daemon-1")
    daemon = DaemonProcess(cfg, tmp_path / "daemon.log").start()
    rng = random.Random(9)
    kills = 0
    try:
        hooks = valid_orders(n, start=3000)
        await produce(kafka_bootstrap, topic, hooks)
        for _ in range(4):
            await asyncio.sleep(rng.uniform(0.8, 2.0))
            daemon.kill9()
            kills += 1
            daemon.start()
        rows = await settle(pool, n, timeout=120)
    finally:
        daemon.stop()
    found = check_heartland(await sandbox_state(http, sandbox_url), names(hooks))
    journal = await pool.fetchval("SELECT count(*) FROM journal WHERE status IN ('ambiguous', 'resolved')")
    print(f"\n[kill -9] {n} orders sent, {kills} kills, {len(rows)} converged "
          f"({dict(Counter(r['sync_state'] for r in rows))}), journal rows resolved after crashes: {journal}; {found}")
    assert found["lost"] == 0 and found["duplicate_orders"] == 0 and found["duplicate_invoices"] == 0
    assert found["over_invoiced_lines"] == 0 and found["negative_stock_rows"] == 0
    assert await pool.fetchval("SELECT count(*) FROM events") == n


async def test_sigterm_drains_and_commits_offsets_then_exits_zero(
        tmp_path, db_url, pool, kafka_bootstrap, topic, sandbox_url, http):
    n = 40
    cfg = write_config(tmp_path / "m.toml", db_url=db_url, bootstrap=kafka_bootstrap, topic=topic,
                       sandbox_url=sandbox_url, daemon={"drain_timeout_s": 10})
    daemon = DaemonProcess(cfg, tmp_path / "daemon.log").start()
    try:
        await produce(kafka_bootstrap, topic, valid_orders(n, start=4000))
        await settle(pool, n // 2, timeout=60)
        # In a thread: the sandbox serving the draining daemon runs on this test's event loop.
        code, seconds = await asyncio.to_thread(daemon.terminate, 30)
    finally:
        daemon.stop()
    offsets = await committed_offsets(kafka_bootstrap, f"g-{topic}", topic, 4)
    print(f"\n[sigterm] exit {code} after {seconds:.1f}s, committed offsets {offsets}")
    assert code == 0 and seconds < 12
    assert sum(offsets.values()) == n
    assert await pool.fetchval("SELECT count(*) FROM orders WHERE lease_owner IS NOT NULL") == 0


async def test_two_daemons_one_killed_the_other_takes_over(
        tmp_path, db_url, pool, tansu_bootstrap, sandbox_url, http):
    # On Tansu: noida-db never evicts a member whose session expired (a killed daemon keeps its
    # partitions forever there), while Tansu, like Kafka, rebalances after the session timeout.
    n = 60
    topic = f"orders-{uuid.uuid4().hex[:10]}"
    await create_topic(tansu_bootstrap, topic, partitions=4)
    await http.put(f"{sandbox_url}/_sandbox/faults", json={"global": {"latency_ms": 3}})
    cfg_a, cfg_b = (write_config(tmp_path / f"{x}.toml", db_url=db_url, bootstrap=tansu_bootstrap, topic=topic,
                                 sandbox_url=sandbox_url, session_ms=1000, heartbeat_ms=250) for x in "ab")
    a = DaemonProcess(cfg_a, tmp_path / "a.log").start()
    b = DaemonProcess(cfg_b, tmp_path / "b.log").start()
    try:
        await asyncio.sleep(3)
        first, second = valid_orders(n, start=5000), valid_orders(20, start=5100)
        await produce(tansu_bootstrap, topic, first)
        await asyncio.sleep(1.0)
        a.kill9()
        await produce(tansu_bootstrap, topic, second)
        rows = await settle(pool, n + 20, timeout=90)
    finally:
        a.stop()
        b.stop()
    found = check_heartland(await sandbox_state(http, sandbox_url), names(first, second))
    print(f"\n[two daemons] {n + 20} orders, one daemon killed: {len(rows)} converged; {found}")
    assert found["lost"] == 0 and found["duplicate_orders"] == 0 and found["duplicate_invoices"] == 0
    assert await pool.fetchval("SELECT count(*) FROM events") == n + 20


async def test_sandbox_faults_during_a_batch_then_every_order_converges(
        db_url, pool, kafka_bootstrap, topic, sandbox_url, http):
    n = 60
    faults = {"global": {"rate_limit_rps": 300, "rate_limit_burst": 20, "error_rate": 0.08,
                         "drop_rate": 0.08, "timeout_rate": 0.02, "timeout_seconds": 4}}
    await http.put(f"{sandbox_url}/_sandbox/faults", json=faults)
    cfg = stack_config(db_url=db_url, bootstrap=kafka_bootstrap, topic=topic, sandbox_url=sandbox_url,
                       daemon={"lease_s": 10}, accounts={"request_timeout_s": 1.0})
    stack = Stack(cfg, sandbox_url, http, pool)
    await stack.start_daemon()
    try:
        hooks = valid_orders(n, start=6000)
        await stack.send(hooks)
        await asyncio.sleep(6)
        await http.put(f"{sandbox_url}/_sandbox/faults", json={"global": {"error_rate": 0, "drop_rate": 0,
                                                                          "timeout_rate": 0, "rate_limit_rps": None}})
        # Parked orders come back on their own schedule; ask for them now rather than wait minutes.
        await pool.execute("UPDATE orders SET next_attempt_at = now() WHERE next_attempt_at IS NOT NULL")
        rows = await settle(pool, n, timeout=90)
    finally:
        await stack.stop_daemon()
    async with http.get(f"{sandbox_url}/_sandbox/requests") as r:
        counts = await r.json()
    found = check_heartland(await sandbox_state(http, sandbox_url), names(hooks))
    print(f"\n[faults] {n} orders, injected {counts['acme']['faults_injected']}: "
          f"{dict(Counter(r['sync_state'] for r in rows))}; {found}")
    assert sum(counts["acme"]["faults_injected"].values()) > 0
    assert found["lost"] == 0 and found["duplicate_orders"] == 0 and found["duplicate_invoices"] == 0
    # Stock runs out for some SKUs, so some orders wait for staff; none may be failed, dead or pending.
    assert set(Counter(r["sync_state"] for r in rows)) <= {"invoiced", "waiting_stock"}


async def test_kill_9_between_the_inbox_write_and_the_offset_commit_loses_and_duplicates_nothing(
        tmp_path, db_url, pool, kafka_bootstrap, topic, sandbox_url, http):
    # A commit interval far longer than the test: every record is durable in the inbox but none is
    # committed when the daemon dies, so the restarted one reads them all again.
    n = 30
    cfg = write_config(tmp_path / "m.toml", db_url=db_url, bootstrap=kafka_bootstrap, topic=topic,
                       sandbox_url=sandbox_url, instance="daemon-1")
    text = cfg.read_text().replace("commit_interval_s = 0.2", "commit_interval_s = 3600")
    cfg.write_text(text)
    daemon = DaemonProcess(cfg, tmp_path / "daemon.log").start()
    try:
        hooks = valid_orders(n, start=7000)
        await produce(kafka_bootstrap, topic, hooks)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 30
        while loop.time() < deadline and await pool.fetchval("SELECT count(*) FROM events") < n:
            await asyncio.sleep(0.05)
        before = await committed_offsets(kafka_bootstrap, f"g-{topic}", topic, 4)
        daemon.kill9()
        assert await pool.fetchval("SELECT count(*) FROM events") == n and sum(before.values()) == 0
        daemon.start()
        rows = await settle(pool, n, timeout=60)
        code, _ = daemon.terminate(timeout=30)   # a clean stop commits what was re-read
    finally:
        daemon.stop()
    after = await committed_offsets(kafka_bootstrap, f"g-{topic}", topic, 4)
    found = check_heartland(await sandbox_state(http, sandbox_url), names(hooks))
    print(f"\n[kill between write and commit] {n} events stored, 0 committed at the kill; after the restart: "
          f"{await pool.fetchval('SELECT count(*) FROM events')} events (duplicates dropped), "
          f"{len(rows)} orders converged, committed {sum(after.values())}; {found}")
    assert await pool.fetchval("SELECT count(*) FROM events") == n
    assert code == 0 and sum(after.values()) == n
    assert found["lost"] == 0 and found["duplicate_orders"] == 0 and found["duplicate_invoices"] == 0
