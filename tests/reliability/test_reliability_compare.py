"""Faults against a Heartland that answers only documented fields end like the fault-free run,
document by document (issue 11).

Every test sends the same orders and changes (new orders, splits across stores, no-stock lines,
partial and full refunds of every kind, edits, cancellations) to a fault-free reference lane and to
lanes whose sandbox account misbehaves (or whose daemon is killed), then compares every Heartland
order, line, payment, invoice, ticket, customer and the stock movements with the reference
(tests/support/heartland_compare.py). The sandbox runs with the default Dialect, i.e. documented
fields only, unless a test says otherwise.
"""
from __future__ import annotations

import asyncio
import json
import os
import random
import time
import uuid

import asyncpg

from daemon_proc import DaemonProcess
from fault_scenarios import (Lane, OrderCase, build_phases, daemon_config, drive, judge, random_cases, sandbox_counts,
                             sandbox_state, start_lane_sandbox, sync_states, to_toml)
from kafka_helpers import create_topic
from mortard.app import Daemon
from mortard.config import config_from_dict
from mortard.store.db import create_pool

TOKENS = {"ACME_TOKEN": "sandbox-token-acme"}
# Documented-only by default; e.g. MORTARD_FAULTS_DIALECT='{"order_line_custom_key": "shopify_line_id"}'
# runs these tests with an assumed behaviour on (sandbox and daemons agree).
DIALECT = json.loads(os.environ.get("MORTARD_FAULTS_DIALECT") or "{}")
LONG = os.environ.get("MORTARD_LONG") == "1"


async def new_database(pg_url: str, template: str) -> str:
    name = f"c{uuid.uuid4().hex[:10]}"
    conn = await asyncpg.connect(pg_url)
    try:
        await conn.execute(f"CREATE DATABASE {name} TEMPLATE {template}")
    finally:
        await conn.close()
    return pg_url.rpartition("/")[0] + "/" + name


async def new_topic(bootstrap: str) -> str:
    name = f"cmp-{uuid.uuid4().hex[:10]}"
    await create_topic(bootstrap, name, partitions=4)
    return name


def in_process(cfg: dict) -> Daemon:
    return Daemon(config_from_dict(cfg, env=TOKENS))


async def verdicts(http, url: str, ref: Lane, lanes: list[Lane], public_ids: set[str]) -> list:
    ref_state = await sandbox_state(http, url, ref.account)
    ref_states = await sync_states(ref)
    out = []
    for lane in lanes:
        out.append(judge(lane.account, ref_state, await sandbox_state(http, url, lane.account), public_ids,
                         ref_states=ref_states, act_states=await sync_states(lane)))
    return out


FAULT_LANES = {
    # 429 storm: the account allows 40 req/s (bucket 5); the daemon is configured for twice that.
    "storm429": {"rate_limit_rps": 40, "rate_limit_burst": 5},
    # 503 before the request is handled.
    "err503": {"error_rate": 0.15, "error_status": 503},
    # The write is applied, then the connection is reset: the client can't know it happened.
    "commit500": {"drop_rate": 0.12},
    # Held past the client's 1 s timeout (then 504); nothing runs.
    "timeouts": {"timeout_rate": 0.06, "timeout_seconds": 2},
}


async def test_429_storms_5xx_500_after_commit_and_timeouts_end_like_the_fault_free_run(
        pg_url, pg_template, kafka_bootstrap, http):
    """One daemon serves five shops, each on its own sandbox account: the reference without faults and
    one lane per fault kind; all get the same 10 orders (MORTARD_LONG=1: 40) and their changes, phase by phase. (Mixed
    schedules: the property test and bench/faults.py.)"""
    accounts = ["ref", *FAULT_LANES]
    seed = 11
    runner, url = await start_lane_sandbox(accounts, dialect=DIALECT, faults={"seed": seed, "accounts": FAULT_LANES})
    db = await new_database(pg_url, pg_template)
    topic = await new_topic(kafka_bootstrap)
    pool = await create_pool(db, min_size=1, max_size=4)
    cfg = daemon_config(db_url=db, bootstrap=kafka_bootstrap, topic=topic, sandbox_url=url, accounts=accounts, dialect=DIALECT,
                        account_overrides={**{a: {"request_timeout_s": 1.0} for a in FAULT_LANES},
                                           "storm429": {"rate_per_second": 80.0, "burst": 20}},
                        daemon={"lease_s": 10.0})
    daemon = in_process(cfg)
    await daemon.start()
    t0 = time.monotonic()
    try:
        cases = random_cases(random.Random(seed), 40 if LONG else 10)
        phases, names = build_phases(cases, first_order_id=71_000)
        lanes = [Lane(a, pool, kafka_bootstrap, topic) for a in accounts]
        await drive(lanes, phases, timeout=120)
        counts = await sandbox_counts(http, url)
        results = await verdicts(http, url, lanes[0], lanes[1:], set(names))
    finally:
        await daemon.stop()
        await pool.close()
        await runner.cleanup()
    print(f"\n[faults] {len(cases)} orders, {len(phases)} phases, {sum(len(c.changes) for c in cases)} changes, "
          f"{time.monotonic() - t0:.1f}s")
    for v in results:
        print(f"  {v.lane}: injected {counts[v.lane]['faults_injected']}, calls {counts[v.lane]['total']} "
              f"(reference {counts['ref']['total']})")
        print("  " + v.describe().replace("\n", "\n  "))
    for v in results:
        injected = counts[v.lane]["faults_injected"]
        assert sum(injected.values()) > 0, f"lane {v.lane}: no fault was injected"
    bad = [v for v in results if not v.ok]
    assert not bad, "\n".join(v.describe() for v in bad)


async def killer(daemon: DaemonProcess, pool, rng: random.Random, kills: int, done: asyncio.Event) -> int:
    """kill -9 the daemon in the middle of its work and start it again at once, `kills` times or until
    `done`: each kill comes after the restarted daemon has journaled a random 3 to 40 more mutations
    (so it lands between a journal write and its request, or a request and its answer, not during
    the process's start), plus a random 0 to 30 ms."""
    n = 0
    while n < kills and not done.is_set():
        start = await pool.fetchval("SELECT count(*) FROM journal")
        goal = start + rng.randint(3, 40)
        while not done.is_set() and await pool.fetchval("SELECT count(*) FROM journal") < goal:
            await asyncio.sleep(0.01)
        if done.is_set():
            break
        await asyncio.sleep(rng.uniform(0, 0.03))
        daemon.kill9()
        n += 1
        daemon.start()
    return n


async def drive_then_signal(lanes, phases, done: asyncio.Event, timeout: float) -> None:
    try:
        await drive(lanes, phases, timeout=timeout)
    finally:
        done.set()


async def test_kill_9_many_times_while_orders_and_changes_flow_ends_like_the_fault_free_run(
        tmp_path, pg_url, pg_template, kafka_bootstrap, http):
    """100 orders with refunds, edits and cancellations (MORTARD_LONG=1: 300); the faulty lane's daemon
    (a `mortard run` process, static group membership) is killed -9 ten times (20) at random moments
    and restarted at once each time."""
    seed, n, kills = (23, 300, 20) if LONG else (23, 100, 10)
    runner, url = await start_lane_sandbox(["ref", "killed"], dialect=DIALECT, faults={"seed": seed, "global": {"latency_ms": 2,
                                                                                                  "jitter_ms": 4}})
    ref_db, db = await new_database(pg_url, pg_template), await new_database(pg_url, pg_template)
    ref_topic, topic = await new_topic(kafka_bootstrap), await new_topic(kafka_bootstrap)
    ref_pool, pool = await create_pool(ref_db, min_size=1, max_size=4), await create_pool(db, min_size=1, max_size=4)
    ref_daemon = in_process(daemon_config(db_url=ref_db, bootstrap=kafka_bootstrap, topic=ref_topic,
                                          sandbox_url=url, accounts=["ref"], dialect=DIALECT))
    cfg = daemon_config(db_url=db, bootstrap=kafka_bootstrap, topic=topic, sandbox_url=url, accounts=["killed"], dialect=DIALECT,
                        kafka={"group_instance_id": "killed-1"})
    (tmp_path / "killed.toml").write_text(to_toml(cfg))
    proc = DaemonProcess(tmp_path / "killed.toml", tmp_path / "killed.log")
    await ref_daemon.start()
    proc.start()
    t0 = time.monotonic()
    done = asyncio.Event()
    try:
        cases = random_cases(random.Random(seed), n)
        phases, names = build_phases(cases, first_order_id=72_000)
        lanes = [Lane("ref", ref_pool, kafka_bootstrap, ref_topic), Lane("killed", pool, kafka_bootstrap, topic)]
        killed, _ = await asyncio.gather(killer(proc, pool, random.Random(seed), kills, done),
                                         drive_then_signal(lanes, phases, done, timeout=180))
        results = await verdicts(http, url, lanes[0], lanes[1:], set(names))
        journal = {r["status"]: r["n"] for r in await pool.fetch("SELECT status, count(*) AS n FROM journal GROUP BY 1")}
    finally:
        proc.stop()
        await ref_daemon.stop()
        await ref_pool.close()
        await pool.close()
        await runner.cleanup()
    v = results[0]
    print(f"\n[kill -9] {n} orders, {len(phases)} phases, {sum(len(c.changes) for c in cases)} changes, "
          f"{killed} kills, journal rows by status {journal}, {time.monotonic() - t0:.1f}s\n"
          + v.describe())
    assert killed == kills, f"only {killed} kills happened while orders were in flight"
    assert v.ok, v.describe(limit=20)


async def test_two_daemons_one_killed_ends_like_the_fault_free_run(
        tmp_path, pg_url, pg_template, kafka_bootstrap, tansu_bootstrap, http):
    """Two `mortard run` processes share the faulty lane (on Tansu, which evicts a dead member);
    one is killed -9 mid-batch and stays dead: the other takes its partitions and its leases."""
    seed, n = 31, 60
    runner, url = await start_lane_sandbox(["ref", "twodaemons"], dialect=DIALECT, faults={"seed": seed, "global": {"latency_ms": 3}})
    ref_db, db = await new_database(pg_url, pg_template), await new_database(pg_url, pg_template)
    ref_topic, topic = await new_topic(kafka_bootstrap), await new_topic(tansu_bootstrap)
    ref_pool, pool = await create_pool(ref_db, min_size=1, max_size=4), await create_pool(db, min_size=1, max_size=4)
    ref_daemon = in_process(daemon_config(db_url=ref_db, bootstrap=kafka_bootstrap, topic=ref_topic,
                                          sandbox_url=url, accounts=["ref"], dialect=DIALECT))
    cfg = daemon_config(db_url=db, bootstrap=tansu_bootstrap, topic=topic, sandbox_url=url, accounts=["twodaemons"], dialect=DIALECT,
                        kafka={"session_timeout_ms": 1000, "heartbeat_interval_ms": 250})
    (tmp_path / "two.toml").write_text(to_toml(cfg))
    a = DaemonProcess(tmp_path / "two.toml", tmp_path / "a.log")
    b = DaemonProcess(tmp_path / "two.toml", tmp_path / "b.log")
    await ref_daemon.start()
    a.start()
    b.start()
    t0 = time.monotonic()
    try:
        cases = random_cases(random.Random(seed), n)
        phases, names = build_phases(cases, first_order_id=73_000)
        lanes = [Lane("ref", ref_pool, kafka_bootstrap, ref_topic), Lane("twodaemons", pool, tansu_bootstrap, topic)]

        async def kill_a_mid_batch() -> float:
            # When the first orders of the faulty lane are being worked (some settled, most not).
            while await pool.fetchval("SELECT count(*) FROM orders WHERE sync_state <> 'received'") < 5:
                await asyncio.sleep(0.05)
            a.kill9()
            return time.monotonic() - t0

        killed_at, _ = await asyncio.gather(kill_a_mid_batch(), drive(lanes, phases, timeout=120))
        alive = (a.alive, b.alive)
        results = await verdicts(http, url, lanes[0], lanes[1:], set(names))
    finally:
        a.stop()
        b.stop()
        await ref_daemon.stop()
        await ref_pool.close()
        await pool.close()
        await runner.cleanup()
    v = results[0]
    print(f"\n[two daemons] {n} orders, {len(phases)} phases, daemon A killed at {killed_at:.1f}s, "
          f"{time.monotonic() - t0:.1f}s\n" + v.describe())
    assert alive == (False, True), f"daemons alive (a, b): {alive}"
    assert v.ok, v.describe(limit=20)


# Every write kind mortard sends, each answered by a reset after Heartland applied it (drop_rate 1
# on that route only), on a small set of orders that between them send every kind: a cancellation
# of a partially invoiced order (the uninvoiced line goes to qty 0, which makes Heartland close the
# order; then a return ticket takes the invoiced units back; found by bench/faults.py --seed 5,
# order #110014), a split order with an edit and a refund, an order refunded in full after invoicing,
# an unpaid (pending) order edited and cancelled.
EVERY_KIND = [
    OrderCase((("SKU-0201", 1), ("SKU-0203", 1), ("SKU-0217", 3)), ("cancel",), shipping=True),
    OrderCase((("SKU-0204", 2), ("SKU-0213", 1)), ("add_line", "refund_return"), shipping=True, discount=True),
    OrderCase((("SKU-0205", 1), ("SKU-0217", 1)), ("qty_up", "refund_shipping")),
    OrderCase((("SKU-0206", 2),), ("refund_full",), shipping=True),
    # Unpaid, so pending in Heartland: the cancellation is a bare PUT status (found by the property
    # test under MORTARD_LONG=1).
    OrderCase((("SKU-0207", 1), ("SKU-0217", 1)), ("add_line", "cancel"), paid=False),
]
WRITES = ["POST /api/customers", "POST /api/customers/{id}/addresses", "POST /api/sales/orders",
          "POST /api/sales/orders/{id}/lines", "PUT /api/sales/orders/{id}/lines/{line_id}",
          "POST /api/sales/orders/{id}/taxes", "POST /api/sales/orders/{id}/payments", "PUT /api/sales/orders/{id}",
          "POST /api/sales/invoices", "POST /api/sales/invoices/{id}/lines", "PUT /api/sales/invoices/{id}",
          "POST /api/sales/tickets"]


async def test_each_write_answered_by_a_reset_after_heartland_applied_it_ends_like_the_fault_free_run(
        pg_url, pg_template, kafka_bootstrap, http):
    """One lane per write kind (its account resets every request of that kind after applying it),
    next to a fault-free lane, all served by one daemon."""
    lanes_faults = {f"w{i}": {"drop_rate": 1.0, "routes": [route]} for i, route in enumerate(WRITES)}
    accounts = ["ref", *lanes_faults]
    runner, url = await start_lane_sandbox(accounts, dialect=DIALECT, faults={"seed": 1, "accounts": lanes_faults})
    db = await new_database(pg_url, pg_template)
    topic = await new_topic(kafka_bootstrap)
    pool = await create_pool(db, min_size=1, max_size=4)
    daemon = in_process(daemon_config(db_url=db, bootstrap=kafka_bootstrap, topic=topic, sandbox_url=url,
                                      accounts=accounts, dialect=DIALECT))
    await daemon.start()
    t0 = time.monotonic()
    try:
        phases, names = build_phases(EVERY_KIND, first_order_id=74_000)
        lanes = [Lane(a, pool, kafka_bootstrap, topic) for a in accounts]
        await drive(lanes, phases, timeout=60)
        counts = await sandbox_counts(http, url)
        results = await verdicts(http, url, lanes[0], lanes[1:], set(names))
    finally:
        await daemon.stop()
        await pool.close()
        await runner.cleanup()
    print(f"\n[every write kind reset after it was applied] {len(WRITES)} lanes, {time.monotonic() - t0:.1f}s")
    for route, v in zip(WRITES, results):
        print(f"  {route}: injected {counts[v.lane]['faults_injected']}\n  " + v.describe().replace("\n", "\n  "))
    unsent = [route for route, v in zip(WRITES, results) if not counts[v.lane]["faults_injected"].get("dropped")]
    assert not unsent, f"never sent: {unsent}"
    bad = [f"{route}: {v.describe(limit=20)}" for route, v in zip(WRITES, results) if not v.ok]
    assert not bad, "\n".join(bad)
