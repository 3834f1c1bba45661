"""Ingest benchmark: Kafka topic → InboxConsumer → `events` table (no sync).

Produces N realistic order events (orders/create plus some orders/updated, keyed <shop>/<order id>,
Shopify headers) to a fresh topic, then starts an `InboxConsumer` with `on_due=None` and times until
all N rows are in `events`. Goal (issue): >= 2,000 events/s durably ingested.

    .venv/bin/python bench/ingest.py [--events 20000] [--partitions 8] [--profile out.prof]
"""
from __future__ import annotations

import argparse
import asyncio
import cProfile
import pstats
import random
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _stack as S  # noqa: E402
from mortard.config import KafkaConfig  # noqa: E402
from mortard.consume.consumer import InboxConsumer  # noqa: E402
from mortard.store.db import create_pool  # noqa: E402
from mortard.ops import eventloop  # noqa: E402

GOAL = 2000.0


async def run(args: argparse.Namespace, servers: S.Servers) -> None:
    assert servers.pg and servers.broker
    rng = random.Random(args.seed)
    names, prices = S.bench_fixture(servers.tmp / "fixture.json", args.shops)
    shops = [S.shop_of(n) for n in names]
    hooks = S.order_events(rng, shops, prices, args.events)
    avg_bytes = sum(len(h.body) for h in hooks) / len(hooks)

    db_url = await S.fresh_database(servers.pg.url)
    topic = f"orders-{uuid.uuid4().hex[:8]}"
    await S.create_topic(servers.broker.bootstrap, topic, args.partitions)
    produce_s = await S.produce(servers.broker.bootstrap, topic, hooks)
    settle_s = 0.0
    if servers.broker._proc is not None and not args.no_settle:
        # noida flushes its data dir for seconds after a large produce; don't bill that to the consumer.
        settle_s = await S.wait_idle(servers.broker._proc.pid)

    pool = await create_pool(db_url, min_size=2, max_size=args.pool)
    cfg = KafkaConfig(bootstrap=servers.broker.bootstrap, topic=topic, dead_letter_topic=topic + ".dead",
                      group_id=f"bench-{topic}", session_timeout_ms=6000, heartbeat_interval_ms=1000,
                      commit_interval_s=args.commit_interval, partitions=args.partitions,
                      max_buffered_records=args.max_buffered)
    consumers = [InboxConsumer(cfg, pool, known_shops=set(shops), on_due=None, client_id=f"bench-ingest-{i}")
                 for i in range(args.consumers)]
    consumer = consumers[0]
    pg = S.pg_pid(servers.pg)
    pg_cpu0 = S.tree_cpu(pg) if pg else 0.0
    broker_cpu0 = S.proc_cpu(servers.broker._proc.pid) if servers.broker._proc else 0.0  # type: ignore[union-attr]
    prof = cProfile.Profile() if args.profile else None

    cpu0 = S.self_cpu()
    t0 = time.perf_counter()
    if prof:
        prof.enable()
    await asyncio.gather(*(c.start() for c in consumers))
    t_started = time.perf_counter()
    first_row_at = None
    count = 0
    deadline = t0 + args.timeout
    while time.perf_counter() < deadline:
        count = await pool.fetchval("SELECT count(*) FROM events")
        if count and first_row_at is None:
            first_row_at = time.perf_counter()
        if count >= args.events:
            break
        await asyncio.sleep(0.05)
    t_done = time.perf_counter()
    if prof:
        prof.disable()
    cpu = S.self_cpu() - cpu0
    pg_cpu = (S.tree_cpu(pg) - pg_cpu0) if pg else float("nan")
    broker_cpu = (S.proc_cpu(servers.broker._proc.pid) - broker_cpu0) if servers.broker._proc else float("nan")  # type: ignore[union-attr]
    from mortard.consume.consumer import ConsumerStats
    stats = ConsumerStats()
    for c in consumers:
        for k in ("consumed", "new_events", "duplicates", "dead_lettered", "batches"):
            setattr(stats, k, getattr(stats, k) + getattr(c.stats, k))
    if count < args.events:
        print(f"STALLED: {count} stored; consumer buffered={consumer.buffered} paused={consumer._paused} "
              f"queue={consumer._queue.qsize()} assignment={sorted(tp.partition for tp in consumer.assignment)} "
              f"stats={stats}", flush=True)
        for task in consumer._tasks:
            if task.done() and not task.cancelled() and task.exception() is not None:
                import traceback
                print(f"consumer task {task.get_name()} died:", flush=True)
                traceback.print_exception(task.exception(), file=sys.stdout)
    await asyncio.gather(*(c.stop() for c in consumers))
    mem = S.proc_mem()
    await pool.close()

    ok = count >= args.events
    first = first_row_at or t_done
    wall_total = t_done - t0
    wall_steady = t_done - first
    rate_total = count / wall_total
    rate_steady = count / wall_steady if wall_steady > 0 else float("nan")
    S.print_table(
        f"bench/ingest.py — {args.broker}, {args.events:,} events, {args.partitions} partitions, {len(shops)} shops, "
        f"avg {avg_bytes:,.0f} B/event, {args.consumers} consumer(s)",
        [
            ("events durably in `events`", count, "all" if ok else f"TIMED OUT after {args.timeout}s"),
            ("produce time (not measured)", produce_s, f"s ({args.events / produce_s:,.0f} ev/s); broker settled {settle_s:.1f}s"),
            ("consumer start → all stored", wall_total, "s (includes group join)"),
            ("events/s (incl. join)", rate_total, f"goal >= {GOAL:,.0f} -> {'PASS' if rate_total >= GOAL else 'FAIL'}"),
            ("events/s (first row → last)", rate_steady, "steady-state"),
            ("group join + first batch", first - t0, "s"),
            ("consumer CPU s per 1,000 events", cpu / count * 1000 if count else float("nan"),
             f"process CPU {cpu:.2f}s"),
            ("Postgres CPU s per 1,000 events", pg_cpu / count * 1000 if count else float("nan"),
             f"postmaster+backends {pg_cpu:.2f}s"),
            ("broker CPU s (consume phase)", broker_cpu, args.broker),
            ("inbox batches", stats.batches, f"avg {stats.consumed / max(1, stats.batches):,.0f} records"),
            ("duplicates / dead-lettered", f"{stats.duplicates} / {stats.dead_lettered}", ""),
            ("bench process peak RSS MiB", mem.get("VmHWM", 0.0), "includes the produced events"),
        ])
    print(f"conditions: {S.conditions()}; broker {args.broker}; consumer start took {t_started - t0:.2f}s")
    if prof:
        prof.dump_stats(args.profile)
        print(f"\nprofile written to {args.profile}; top 25 by cumulative time:")
        pstats.Stats(prof).sort_stats("tottime").print_stats(25)
    if not ok:
        raise SystemExit(1)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--events", type=int, default=20_000, help="events to produce and ingest (default 20000)")
    p.add_argument("--partitions", type=int, default=8)
    p.add_argument("--shops", type=int, default=2, help="shops the orders are spread over")
    p.add_argument("--consumers", type=int, default=1,
                   help="InboxConsumers in one group in this process (like N daemons; default 1)")
    p.add_argument("--pool", type=int, default=10, help="Postgres pool size")
    p.add_argument("--max-buffered", type=int, default=KafkaConfig().max_buffered_records,
                   help="kafka.max_buffered_records (pause threshold; default as in config)")
    p.add_argument("--commit-interval", type=float, default=1.0, help="kafka.commit_interval_s (default 1.0)")
    p.add_argument("--broker", choices=("noida", "tansu"), default="noida", help=S.BROKER_HELP)
    p.add_argument("--no-settle", action="store_true",
                   help="start consuming at once, while the broker still flushes the produced data")
    p.add_argument("--timeout", type=float, default=300.0, help="give up after this many seconds")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--profile", default=None, help="write a cProfile of the consume phase to this file")
    args = p.parse_args()
    S.quiet_logs("info")
    with S.Servers(broker_kind=args.broker) as servers:
        print(f"servers up: postgres {servers.pg.url if servers.pg else '-'}, "
              f"noida {servers.broker.bootstrap if servers.broker else '-'}", flush=True)
        eventloop.run(run(args, servers))   # the loop the daemon runs on


if __name__ == "__main__":
    main()
