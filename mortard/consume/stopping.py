"""Stopping the consumer's broker clients, each step bounded: a broker that no longer answers must not
hold a SIGTERM past the drain budget (the step is logged and the stop goes on)."""
from __future__ import annotations

import asyncio
from collections.abc import Awaitable

import structlog
from aiokafka.errors import KafkaError

log = structlog.get_logger(__name__)

STOP_STEP_S = 5.0
# The poller ends by itself within a poll and a rest (< 1 s); longer means aiokafka's getmany is
# waiting, without a bound, for a rebalance that does not finish.
POLL_STOP_S = 2.0


async def bounded(step: Awaitable[None], seconds: float, what: str) -> None:
    try:
        await asyncio.wait_for(step, seconds)
    except asyncio.TimeoutError:
        log.warning("stop_step_timed_out", step=what, seconds=seconds)
    except KafkaError as exc:
        log.warning("stop_step_failed", step=what, error=repr(exc))


async def join_or_cancel(task: asyncio.Task[None], seconds: float, what: str) -> None:
    """Let a task end by itself for `seconds`, then cancel it (logged as a timed-out step)."""
    done, _ = await asyncio.wait({task}, timeout=seconds)
    if not done:
        log.warning("stop_step_timed_out", step=what, seconds=seconds)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
