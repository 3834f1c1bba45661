"""Stopping the consumer's broker clients, each step bounded: a broker that no longer answers must not
hold a SIGTERM past the drain budget (the step is logged and the stop goes on)."""
from __future__ import annotations

import asyncio
from collections.abc import Awaitable

import structlog
from aiokafka.errors import KafkaError

from mortard.ops.shutdown import end_tasks

log = structlog.get_logger(__name__)

STOP_STEP_S = 5.0
# The poller ends by itself within a poll and a rest (< 1 s); longer means aiokafka's getmany is
# waiting, without a bound, for a rebalance that does not finish.
POLL_STOP_S = 2.0


async def bounded(step: Awaitable[None], seconds: float, what: str) -> None:
    """Run one stop step for at most `seconds`, then cancel it and give it CANCEL_GRACE_S more
    (a step that swallows its cancellation is left behind: `end_tasks`)."""
    task = asyncio.ensure_future(step)
    try:
        if not await join_or_cancel(task, seconds, what):
            return      # cut short (logged): how it unwound is not the stop's concern
    except asyncio.CancelledError:
        task.cancel()
        raise
    exc = None if task.cancelled() else task.exception()
    if isinstance(exc, KafkaError):
        log.warning("stop_step_failed", step=what, error=repr(exc))
    elif exc is not None:
        raise exc


async def join_or_cancel(task: asyncio.Future[None], seconds: float, what: str) -> bool:
    """Let a task end by itself for `seconds`, then cancel it (logged as a timed-out step).
    Whether it ended by itself."""
    done, _ = await asyncio.wait({task}, timeout=seconds)
    if not done:
        log.warning("stop_step_timed_out", step=what, seconds=seconds)
        await end_tasks([task], what)
    return bool(done)
