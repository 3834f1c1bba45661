"""Reconciliation with webhooks dropped on purpose (issue 14): prints

  - orders recovered ÷ orders missed by webhooks (goal 100 %),
  - creation → Heartland invoice for orders whose webhooks were all dropped, beside the same figure
    for orders delivered normally (goal: ≤ one reconcile interval + the normal sync time),
  - Shopify query cost per reconciled order, and the share of throttled Shopify calls (goal 0).

One daemon serves two shops on an in-process Heartland sandbox: `ref` gets every webhook, `lossy`
loses --drop of them and has Admin API access to the in-process Shopify sandbox. Same scenario as
tests/integration/shopify/test_reconcile_drops.py, bigger.

    .venv/bin/python bench/reconcile.py --orders 300 --drop 0.10 --interval 2
"""
from __future__ import annotations

import argparse
import asyncio
import random
import sys
import time
import uuid
from pathlib import Path

import aiohttp

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "tests" / "support"))

import _stack as S  # noqa: E402
from fault_scenarios import (Lane, build_phases, daemon_config, judge, random_cases, sandbox_state,  # noqa: E402
                             shop_of, start_lane_sandbox, sync_states)
from kafka_helpers import create_topic  # noqa: E402
from mortard.app import Daemon  # noqa: E402
from mortard.config import config_from_dict  # noqa: E402
from mortard.store.db import create_pool  # noqa: E402
from mortard.testing.shopify_admin import TOKEN, ShopifyAdminSandbox  # noqa: E402
from reconcile_scenarios import drive_with_drops, recovered_missed, recovered_orders  # noqa: E402


def _pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))] if xs else float("nan")


async def run(args: argparse.Namespace, servers: S.Servers) -> int:
    assert servers.pg is not None and servers.broker is not None
    db = await S.fresh_database(servers.pg.url)
    bootstrap = servers.broker.bootstrap
    topic = f"bench-rec-{uuid.uuid4().hex[:8]}"
    await create_topic(bootstrap, topic, partitions=4)
    runner, url = await start_lane_sandbox(["ref", "lossy"])
    pool = await create_pool(db, min_size=1, max_size=4)
    lossy_shop = shop_of("lossy")
    async with ShopifyAdminSandbox({lossy_shop: TOKEN}) as sb, aiohttp.ClientSession() as http:
        if args.bucket:
            b = sb.shop(lossy_shop).bucket
            b.maximum = b.available = args.bucket
            b.restore_rate = args.restore
        cfg = daemon_config(db_url=db, bootstrap=bootstrap, topic=topic, sandbox_url=url, accounts=["ref", "lossy"])
        cfg["shops"][lossy_shop]["shopify"] = {
            "access_token_env": "SHOPIFY_TOKEN", "admin_url": sb.admin_url(lossy_shop),
            "reconcile_interval_s": args.interval, "settle_s": args.settle, "overlap_s": 60.0,
            "backfill_s": 3600.0, "page_size": 100}
        daemon = Daemon(config_from_dict(cfg, env={"ACME_TOKEN": "sandbox-token-acme", "SHOPIFY_TOKEN": TOKEN}))
        await daemon.start()
        t0 = time.monotonic()
        try:
            cases = random_cases(random.Random(args.seed), args.orders)
            phases, names = build_phases(cases, first_order_id=91_000)
            ref, lossy = Lane("ref", pool, bootstrap, topic), Lane("lossy", pool, bootstrap, topic)
            stats = await drive_with_drops(ref, lossy, sb, phases, drop_share=args.drop, rng=random.Random(args.seed),
                                           timeout=300)
            verdict = judge("lossy", await sandbox_state(http, url, "ref"), await sandbox_state(http, url, "lossy"),
                            set(names), ref_states=await sync_states(ref), act_states=await sync_states(lossy))
            fetched_in = await recovered_orders(lossy)
            recovered = await recovered_missed(lossy, stats)
            rows = await pool.fetch("SELECT order_id, invoiced_at FROM orders WHERE shop = $1 AND invoiced_at IS NOT NULL",
                                    lossy_shop)
        finally:
            await daemon.stop()
            await pool.close()
            await runner.cleanup()
        wall = time.monotonic() - t0
        state = sb.shop(lossy_shop)
    assert stats.created_at is not None
    all_dropped = set(stats.all_dropped_created)
    late = [(r["invoiced_at"] - stats.created_at).total_seconds() for r in rows if r["order_id"] in all_dropped]
    normal = [(r["invoiced_at"] - stats.created_at).total_seconds() for r in rows if r["order_id"] not in all_dropped]
    missed = len(stats.missed_orders)
    calls = sum(state.calls.values()) + state.throttled
    print(f"reconcile bench: {args.orders} orders, {len(phases)} phases, {stats.sent} webhooks, drop {args.drop:.0%}, "
          f"reconcile interval {args.interval:g}s, settle {args.settle:g}s, bucket "
          f"{'%g/%g per s' % (args.bucket, args.restore) if args.bucket else '1000/50 per s'}; {wall:.1f}s")
    print(f"  webhooks dropped: {stats.dropped}; orders missed by webhooks: {missed}; "
          f"recovered by reconciliation: {recovered} (it also took in {fetched_in - recovered} changes whose "
          f"webhook was still on its way)")
    print(f"  orders recovered / orders missed: {recovered}/{missed} = {recovered / missed:.0%}" if missed else
          "  nothing missed")
    print(f"  creation -> Heartland invoice, all webhooks dropped ({len(late)} orders): "
          f"p50 {_pct(late, .5):.2f}s, max {max(late, default=float('nan')):.2f}s; delivered normally "
          f"({len(normal)}): p50 {_pct(normal, .5):.2f}s, max {max(normal, default=float('nan')):.2f}s; "
          f"bound = interval + settle + normal max = {args.interval + args.settle + max(normal, default=0):.2f}s")
    print(f"  Shopify cost per reconciled order: {state.cost_used / max(1, fetched_in):.1f} points per order fetched "
          f"({state.cost_used:.0f} points in {calls} calls: {dict(state.calls)}; "
          f"{state.cost_used / max(1, recovered):.1f} per missed order recovered)")
    print(f"  throttled Shopify calls: {state.throttled}/{calls} = {state.throttled / max(1, calls):.1%}")
    print(f"  Heartland state vs the lane that got every webhook: {'identical' if verdict.ok else 'DIFFERENT'}")
    if not verdict.ok:
        print(verdict.describe())
    return 0 if verdict.ok and recovered == missed else 1


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--orders", type=int, default=300)
    p.add_argument("--drop", type=float, default=0.10)
    p.add_argument("--interval", type=float, default=2.0, help="reconcile interval, seconds")
    p.add_argument("--settle", type=float, default=1.0)
    p.add_argument("--seed", type=int, default=14)
    p.add_argument("--bucket", type=float, default=0.0, help="Shopify bucket size (default: the sandbox's 1000)")
    p.add_argument("--restore", type=float, default=50.0, help="Shopify restore rate, points per second")
    args = p.parse_args()
    with S.Servers() as servers:
        sys.exit(asyncio.run(run(args, servers)))


if __name__ == "__main__":
    main()
