"""10 % of webhooks dropped at random while orders with edits, refunds and cancellations flow: every
order ends in the same Heartland state as in the lane that got every webhook (issue 14)."""
from __future__ import annotations

import os
import random
import uuid

import pytest

from fault_scenarios import Lane, build_phases, daemon_config, judge, random_cases, sandbox_state, shop_of, start_lane_sandbox, sync_states
from kafka_helpers import create_topic
from mortard.app import Daemon
from mortard.config import config_from_dict
from mortard.store.db import create_pool
from mortard.testing.shopify_admin import TOKEN, ShopifyAdminSandbox
from reconcile_scenarios import drive_with_drops, recovered_missed, recovered_orders, shopify_table

LONG = os.environ.get("MORTARD_LONG") == "1"


@pytest.mark.parametrize("bucket", [None, (650.0, 40.0)], ids=["shopify_plus_bucket", "tiny_bucket"])
async def test_ten_percent_of_webhooks_dropped_end_like_none_dropped(db_url, kafka_bootstrap, http, bucket):
    """With a tiny Shopify cost bucket (each order fetch asks 620 of 650 points, 40 restored a second)
    reconciliation only slows down: nothing fails and steady state is never throttled."""
    seed = 14
    accounts = ["ref", "lossy"]
    runner, url = await start_lane_sandbox(accounts)
    topic = f"drop-{uuid.uuid4().hex[:10]}"
    await create_topic(kafka_bootstrap, topic, partitions=4)
    pool = await create_pool(db_url, min_size=1, max_size=4)
    async with ShopifyAdminSandbox({shop_of("lossy"): TOKEN}) as sb:
        if bucket is not None:
            b = sb.shop(shop_of("lossy")).bucket
            b.maximum = b.available = bucket[0]
            b.restore_rate = bucket[1]
        cfg = daemon_config(db_url=db_url, bootstrap=kafka_bootstrap, topic=topic, sandbox_url=url, accounts=accounts)
        cfg["shops"][shop_of("lossy")]["shopify"] = {
            "access_token_env": "SHOPIFY_TOKEN", "admin_url": sb.admin_url(shop_of("lossy")),
            "reconcile_interval_s": 0.5, "settle_s": 1.5, "overlap_s": 30.0, "backfill_s": 3600.0, "page_size": 50}
        daemon = Daemon(config_from_dict(cfg, env={"ACME_TOKEN": "sandbox-token-acme", "SHOPIFY_TOKEN": TOKEN}))
        await daemon.start()
        try:
            cases = random_cases(random.Random(seed), 200 if LONG else 40)
            phases, names = build_phases(cases, first_order_id=81_000)
            ref, lossy = Lane("ref", pool, kafka_bootstrap, topic), Lane("lossy", pool, kafka_bootstrap, topic)
            stats = await drive_with_drops(ref, lossy, sb, phases, drop_share=0.10, rng=random.Random(seed))
            verdict = judge("lossy", await sandbox_state(http, url, "ref"), await sandbox_state(http, url, "lossy"),
                            set(names), ref_states=await sync_states(ref), act_states=await sync_states(lossy))
            fetched_in = await recovered_orders(lossy)
            recovered = await recovered_missed(lossy, stats)
        finally:
            await daemon.stop()
            await pool.close()
            await runner.cleanup()
    print(f"\n[drops] {len(cases)} orders, {len(phases)} phases: webhooks {stats.sent}, dropped {stats.dropped}, "
          f"orders missed {len(stats.missed_orders)}, recovered by reconciliation {recovered}, "
          f"shopify {shopify_table(sb, shop_of('lossy'))}")
    assert stats.dropped > 0 and stats.missed_orders, "the seed dropped nothing that mattered"
    assert recovered == len(stats.missed_orders) and fetched_in >= recovered
    assert verdict.ok, verdict.describe()
    assert sb.shop(shop_of("lossy")).throttled <= 1     # only a first call before the bucket is known
    assert daemon.metrics.reconcile_runs_total.labels(shop_of("lossy"), "failed")._value.get() == 0
