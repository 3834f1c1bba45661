"""Playing the day: every webhook POSTed to the ingest endpoint at a rate, retried as Shopify retries,
and waiting until every order has settled.
"""
from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import dataclass, field

import aiohttp
import asyncpg

from mortard.demo.scenario import Delivery, Scenario
from mortard.demo.stack import DemoStack, SHOPS
from mortard.store.stats import intake_progress, orders_by_state, settled_counts


@dataclass
class PlayStats:
    answers: Counter[int] = field(default_factory=Counter)
    retried: int = 0
    sent: int = 0
    errors: list[str] = field(default_factory=list)


async def play(stack: DemoStack, scenario: Scenario, rate: float, stats: PlayStats) -> None:
    """POST every delivery at `rate` per second; one order's deliveries go out in their order."""
    assert stack.http is not None
    secrets = {s.domain: s.secret for s in SHOPS}
    last_for_order: dict[tuple[str, int | None], asyncio.Task[None]] = {}
    tasks: list[asyncio.Task[None]] = []
    limit = asyncio.Semaphore(64)
    loop = asyncio.get_running_loop()
    start = loop.time()

    async def send(d: Delivery, before: asyncio.Task[None] | None) -> None:
        if before is not None:
            await asyncio.gather(before, return_exceptions=True)
        async with limit:
            status = await _post(stack, d, secrets[d.shop], stats)
        stats.answers[status] += 1
        stats.sent += 1

    for i, d in enumerate(scenario.deliveries):
        delay = start + i / rate - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        key = (d.shop, d.order_id) if d.order_id is not None and d.expect_status == 200 else (d.shop, -i)
        task = asyncio.create_task(send(d, last_for_order.get(key)))
        last_for_order[key] = task
        tasks.append(task)
    await asyncio.gather(*tasks)


async def _post(stack: DemoStack, d: Delivery, secret: str, stats: PlayStats) -> int:
    """One delivery, retried like Shopify retries (on 5xx and connection errors), a few times."""
    assert stack.http is not None
    for attempt in range(5):
        try:
            async with stack.http.post(stack.webhook_url, data=d.body, headers=d.headers(secret)) as resp:
                await resp.read()
                if resp.status < 500 or attempt == 4:
                    return resp.status
        except (aiohttp.ClientError, OSError, asyncio.TimeoutError) as exc:
            if attempt == 4:
                stats.errors.append(f"{d.kind} {d.webhook_id}: {exc!r}")
                return 0
        stats.retried += 1
        await asyncio.sleep(0.2 * 2 ** attempt)
    return 0


async def order_counts(pool: asyncpg.Pool) -> tuple[dict[str, int], int, int]:
    """Orders by state, how many are still being worked, and how many there are."""
    counts = await orders_by_state(pool)
    settled = await settled_counts(pool)
    return counts, settled.busy, settled.total


async def wait_settled(stack: DemoStack, scenario: Scenario, timeout: float) -> bool:
    """Every accepted webhook is in the inbox (or the dead letters), and no order is due or leased."""
    assert stack.pool is not None
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    want_events, want_dead = scenario.expected_events, scenario.expected_dead_letters
    quiet = 0
    while loop.time() < deadline:
        p = await intake_progress(stack.pool)
        intake_done = p.events >= want_events and p.dead_letters >= want_dead
        if intake_done and p.busy == 0 and p.unfinished == 0:
            quiet += 1
            if quiet >= 2:          # twice in a row: nothing was just about to be scheduled
                return True
        else:
            quiet = 0
        await asyncio.sleep(0.1)
    return False

