"""What the consumer tells the ops side, on real brokers: the commit age stays 0 when idle, lag series
follow the assignment (a revoked partition's series is dropped), and a consumer left without any
partition reports it once the bound has passed."""
from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest

from kafka_helpers import create_topic, produce
from mortard.consume.consumer import InboxConsumer
from mortard.ops.metrics import Metrics
from mortard.testing.shopify import LineSpec, OrderSpec, order_payload, webhook
from test_spine_inbox import SHOP, kafka_cfg, wait_for


@pytest.fixture(params=["noida", "tansu"])
def broker(request) -> tuple[str, bool]:
    if request.param == "tansu":
        return request.getfixturevalue("tansu_bootstrap"), True
    return request.getfixturevalue("noida_bootstrap"), False


def _gauge(metrics: Metrics, name: str) -> dict[str, float]:
    return {s.labels.get("partition", ""): s.value for fam in metrics.registry.collect() if fam.name == name
            for s in fam.samples}


async def _until(check, timeout: float = 30.0) -> bool:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        if check():
            return True
        await asyncio.sleep(0.1)
    return check()


async def test_an_idle_consumer_has_commit_age_zero_and_lag_only_for_its_partitions(pool, broker, topic_name):
    bootstrap, tansu = broker
    await create_topic(bootstrap, topic_name, partitions=4)
    first_metrics, second_metrics = Metrics(), Metrics()
    cfg = kafka_cfg(bootstrap, topic_name, tansu=tansu)
    first = InboxConsumer(cfg, pool, known_shops={SHOP}, metrics=first_metrics)
    await first.start()
    second = None
    try:
        hooks = [webhook("orders/create", SHOP, order_payload(
            OrderSpec(6000 + i, 1000 + i, [LineSpec("SKU-0001", 1, Decimal("5.00"))]))) for i in range(12)]
        await produce(bootstrap, topic_name, hooks)
        await wait_for(pool, "SELECT count(*) FROM events", 12)
        assert await _until(lambda: len(_gauge(first_metrics, "mortard_consumer_lag")) == 4)
        await asyncio.sleep(2.5)   # idle: nothing fetched and not committed
        assert _gauge(first_metrics, "mortard_commit_age_seconds") == {"": 0.0}
        assert first.assignment_problem(max_unassigned_s=1.0) is None

        second = InboxConsumer(cfg, pool, known_shops={SHOP}, metrics=second_metrics)
        await second.start()
        # The group splits the 4 partitions; each consumer's lag series are exactly its own.
        assert await _until(lambda: len(first.assignment) == 2 and len(second.assignment) == 2, 60)
        owned = lambda: {str(tp.partition) for tp in first.assignment}  # noqa: E731
        assert await _until(lambda: set(_gauge(first_metrics, "mortard_consumer_lag")) == owned()), \
            (_gauge(first_metrics, "mortard_consumer_lag"), owned(), first.assignment)
        assert not set(_gauge(first_metrics, "mortard_consumer_lag")) & {str(tp.partition) for tp in second.assignment}
    finally:
        if second is not None:
            await second.stop()
        await first.stop()


async def test_a_consumer_without_partitions_reports_it_after_the_bound(pool, broker, topic_name):
    bootstrap, tansu = broker
    await create_topic(bootstrap, topic_name, partitions=1)
    cfg = kafka_cfg(bootstrap, topic_name, tansu=tansu)
    a = InboxConsumer(cfg, pool, known_shops={SHOP})
    b = InboxConsumer(cfg, pool, known_shops={SHOP})
    await a.start()
    await b.start()
    try:
        assert await _until(lambda: len(a.assignment) + len(b.assignment) == 1, 60)
        idle, busy = (a, b) if not a.assignment else (b, a)
        await asyncio.sleep(1.2)
        problem = idle.assignment_problem(max_unassigned_s=1.0)
        assert problem is not None and problem.startswith(f"no partition of {topic_name} assigned for ")
        assert busy.assignment_problem(max_unassigned_s=1.0) is None
    finally:
        await a.stop()
        await b.stop()


async def test_stop_ends_in_bounded_time_when_the_poll_waits_for_a_rebalance_that_never_ends(pool, noida_bootstrap,
                                                                                           topic_name):
    """aiokafka's getmany waits without a bound while a reassignment is in progress; a group stuck in
    rebalance held a test daemon's stop for minutes. The stop cuts the poll short and still commits."""
    from kafka_helpers import committed_offsets
    from mortard.consume.stopping import STOP_STEP_S

    await create_topic(noida_bootstrap, topic_name, partitions=1)
    c = InboxConsumer(kafka_cfg(noida_bootstrap, topic_name), pool, known_shops={SHOP})
    await c.start()
    hooks = [webhook("orders/create", SHOP, order_payload(
        OrderSpec(6100 + i, 1100 + i, [LineSpec("SKU-0001", 1, Decimal("5.00"))]))) for i in range(3)]
    await produce(noida_bootstrap, topic_name, hooks)
    await wait_for(pool, "SELECT count(*) FROM events", 3)

    entered = asyncio.Event()

    async def stuck_in_rebalance(*args, **kwargs):
        entered.set()
        await asyncio.Event().wait()

    c._consumer.getmany = stuck_in_rebalance   # type: ignore[union-attr]
    await asyncio.wait_for(entered.wait(), 5)
    loop = asyncio.get_running_loop()
    started = loop.time()
    bound = 3 + 3 * STOP_STEP_S   # a few seconds for the poll, then the three bounded broker steps
    await asyncio.wait_for(c.stop(), bound + 5)
    assert loop.time() - started < bound
    assert await committed_offsets(noida_bootstrap, c._cfg.group_id, topic_name, 1) == {0: 3}


async def test_records_after_quiet_spells_are_taken_in(pool, broker, topic_name):
    """Idle, the partitions rest between polls of a millisecond; a fetch that answers after the poll
    is kept by aiokafka, so the record comes at the next poll (every 0.5 s) instead of being lost."""
    bootstrap, tansu = broker
    await create_topic(bootstrap, topic_name, partitions=2)
    c = InboxConsumer(kafka_cfg(bootstrap, topic_name, tansu=tansu), pool, known_shops={SHOP})
    await c.start()
    try:
        for i in range(3):
            await asyncio.sleep(2.0)   # caught up: resting
            await produce(bootstrap, topic_name, [webhook("orders/create", SHOP, order_payload(
                OrderSpec(6200 + i, 1200 + i, [LineSpec("SKU-0001", 1, Decimal("5.00"))])))])
            await wait_for(pool, "SELECT count(*) FROM events", i + 1, timeout=10.0)
    finally:
        await c.stop()


async def test_stop_ends_when_the_committer_swallows_its_cancellation(pool, noida_bootstrap, topic_name):
    """Python 3.11's wait_for returns the inner result when cancelled just as it completes, so the
    committer (its lag reading uses wait_for) could take its cancel and go on looping; the stop then
    waited for it for ever (seen in CI: a teardown that never ended, the fetcher spinning)."""
    await create_topic(noida_bootstrap, topic_name, partitions=1)
    c = InboxConsumer(kafka_cfg(noida_bootstrap, topic_name), pool, known_shops={SHOP})
    await c.start()
    entered, swallowed = asyncio.Event(), asyncio.Event()

    async def lag_reading_that_loses_its_cancel() -> None:
        entered.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            swallowed.set()        # the cancel is lost here; the committer's loop goes on

    c._observe_lag = lag_reading_that_loses_its_cancel   # type: ignore[method-assign]
    await asyncio.wait_for(entered.wait(), 10)
    await asyncio.wait_for(c.stop(), 30)
    committer = c._tasks[2]
    assert swallowed.is_set() and committer.done() and not committer.cancelled()   # it ended by itself
