"""The consumer's stop steps are bounded even when a step swallows its cancellation, as aiokafka's
stop does around its own tasks while a group stuck in rebalance never answers (consume/stopping.py)."""
from __future__ import annotations

import asyncio

import pytest
from aiokafka.errors import KafkaConnectionError

from mortard.consume.stopping import bounded, join_or_cancel
from mortard.ops.shutdown import CANCEL_GRACE_S, end_tasks


async def _stubborn(started: asyncio.Event, release: asyncio.Event) -> None:
    """Swallows every cancellation and goes on waiting, as a library might, until released."""
    started.set()
    while not release.is_set():
        try:
            await release.wait()
        except asyncio.CancelledError:
            continue


async def test_a_step_that_swallows_its_cancellation_is_left_behind_in_bounded_time() -> None:
    loop = asyncio.get_running_loop()
    started, release = asyncio.Event(), asyncio.Event()
    t0 = loop.time()
    try:
        await asyncio.wait_for(bounded(_stubborn(started, release), 0.2, "leave_group"), 0.2 + CANCEL_GRACE_S + 2)
        assert started.is_set() and loop.time() - t0 < 0.2 + CANCEL_GRACE_S + 1
    finally:
        release.set()


async def test_tasks_that_swallow_their_cancellation_do_not_hold_the_join_or_the_end() -> None:
    started, release = asyncio.Event(), asyncio.Event()
    poll = asyncio.create_task(_stubborn(started, release))
    others = [asyncio.create_task(_stubborn(asyncio.Event(), release)), asyncio.create_task(asyncio.sleep(3600))]
    try:
        await asyncio.wait_for(join_or_cancel(poll, 0.1, "poll_loop"), 0.1 + CANCEL_GRACE_S + 2)
        await asyncio.wait_for(end_tasks(others, "background"), CANCEL_GRACE_S + 2)
        assert not poll.done() and not others[0].done()     # left behind, not waited for
        assert others[1].cancelled()                        # a task that takes its cancel ends
    finally:
        release.set()
        await asyncio.gather(poll, *others, return_exceptions=True)


async def test_a_step_that_finishes_or_fails_is_waited_for_and_only_kafka_errors_are_swallowed() -> None:
    done: list[str] = []

    async def quick() -> None:
        await asyncio.sleep(0.01)
        done.append("quick")

    async def broker_gone() -> None:
        raise KafkaConnectionError("gone")

    async def bug() -> None:
        raise RuntimeError("a bug")

    await bounded(quick(), 1.0, "commit")
    await bounded(broker_gone(), 1.0, "commit")        # logged, the stop goes on
    with pytest.raises(RuntimeError):
        await bounded(bug(), 1.0, "commit")
    assert done == ["quick"]
