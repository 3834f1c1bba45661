"""Webhooks dropped on purpose, reconciliation bringing the changes: a reference lane that gets every
webhook and a lane that loses a share of them, on one daemon; the lane's shop has Admin API access to
the Shopify sandbox, which always holds the truth (every order's newest snapshot).

Each phase is stamped with the wall clock as it is sent (reconciliation lists by updated_at, so the
scenario's fixed dates would sit behind the watermark), and a phase ends when the dropping lane has
stored every order's newest Shopify state and both lanes have settled: within a phase the Shopify
input is fixed, so both lanes must reach the same Heartland state (`fault_scenarios.judge`).
"""
from __future__ import annotations

import asyncio
import random
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Sequence

from fault_scenarios import Lane, hooks_for, wait_lanes
from kafka_helpers import produce
from mortard.testing.shopify_admin import ShopifyAdminSandbox

SNAPSHOT_TOPICS = ("orders/create", "orders/updated", "orders/paid", "orders/cancelled")


@dataclass
class DropStats:
    sent: int = 0
    dropped: int = 0
    missed_orders: set[tuple[int, int]] = field(default_factory=set)   # (phase, order id) whose change was lost
    # order id -> seconds from its (all-dropped) creation to its Heartland invoice
    all_dropped_created: dict[int, float] = field(default_factory=dict)
    created_at: datetime | None = None       # when phase 0 (the orders' creation) was sent
    stamps: list[str] = field(default_factory=list)   # each phase's updated_at


def stamp(phase: Sequence[tuple[int, str, dict]], now: str) -> list[tuple[int, str, dict]]:
    out = []
    for oid, topic, payload in phase:
        p = dict(payload)
        if topic in SNAPSHOT_TOPICS:
            p["updated_at"] = now
        out.append((oid, topic, p))
    return out


async def stored_is_current(lane: Lane, sb: ShopifyAdminSandbox) -> bool:
    orders = sb.shop(lane.shop).orders
    rows = await lane.pool.fetch("SELECT order_id, snapshot_updated_at FROM orders WHERE shop = $1", lane.shop)
    have = {r["order_id"]: r["snapshot_updated_at"] for r in rows}
    for oid, body in orders.items():
        want = datetime.fromisoformat(body["updated_at"])
        if have.get(oid) is None or have[oid] < want:
            return False
    return True


async def drive_with_drops(ref: Lane, lossy: Lane, sb: ShopifyAdminSandbox, phases: Sequence[Sequence[tuple[int, str, dict]]],
                           *, drop_share: float, rng: random.Random, timeout: float = 120.0) -> DropStats:
    stats = DropStats()
    for k, raw in enumerate(phases):
        stats.stamps.append(datetime.now(timezone.utc).replace(microsecond=0).isoformat())
        phase = stamp(raw, stats.stamps[-1])
        if k == 0:
            stats.created_at = datetime.now(timezone.utc)
        for oid, topic, payload in phase:
            if topic in SNAPSHOT_TOPICS:
                sb.put_order(lossy.shop, payload)       # Shopify always knows
        await produce(ref.bootstrap, ref.topic, hooks_for(phase, ref.shop))
        ref.events_sent += len(phase)
        ref.orders |= {oid for oid, _, _ in phase}
        kept = []
        lost_by_order: dict[int, int] = {}
        per_order: dict[int, int] = {}
        for item in phase:
            per_order[item[0]] = per_order.get(item[0], 0) + 1
            if rng.random() < drop_share:
                stats.dropped += 1
                lost_by_order[item[0]] = lost_by_order.get(item[0], 0) + 1
            else:
                kept.append(item)
        stats.sent += len(phase)
        for oid, n in lost_by_order.items():
            # "Missed": the change that mattered (its snapshot) never came by webhook.
            if not any(o == oid and t in SNAPSHOT_TOPICS for o, t, _ in kept):
                stats.missed_orders.add((k, oid))
                if k == 0:
                    stats.all_dropped_created[oid] = time.monotonic()
        await produce(lossy.bootstrap, lossy.topic, hooks_for(kept, lossy.shop))
        lossy.events_sent += len(kept)
        lossy.orders |= {oid for oid, _, _ in phase}
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not await stored_is_current(lossy, sb):
            if loop.time() > deadline:
                raise AssertionError(f"phase {k}: reconciliation did not bring every order's newest state")
            await asyncio.sleep(0.1)
        await wait_lanes([ref, lossy], timeout)
        if k == 0:
            for oid, started in list(stats.all_dropped_created.items()):
                stats.all_dropped_created[oid] = time.monotonic() - started
    return stats


async def recovered_orders(lane: Lane) -> int:
    """Distinct (order, snapshot) changes the lane took in by reconciliation."""
    return await lane.pool.fetchval("SELECT count(*) FROM events WHERE shop = $1 AND source = 'reconcile'", lane.shop)


async def recovered_missed(lane: Lane, stats: DropStats) -> int:
    """Of the changes webhooks missed, how many reconciliation took in (the rest of what it took in were
    changes whose webhook was still on its way)."""
    rows = await lane.pool.fetch("SELECT order_id, payload->>'updated_at' AS at FROM events WHERE shop = $1 "
                                 "AND source = 'reconcile'", lane.shop)
    got = {(r["order_id"], datetime.fromisoformat(r["at"].replace("Z", "+00:00"))) for r in rows}
    return sum(1 for k, oid in stats.missed_orders if (oid, datetime.fromisoformat(stats.stamps[k])) in got)


def shopify_table(sb: ShopifyAdminSandbox, shop: str) -> dict[str, Any]:
    s = sb.shop(shop)
    return {"calls": dict(s.calls), "throttled": s.throttled, "cost_used": s.cost_used}
