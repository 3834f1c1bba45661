"""Stopping the consumer's broker clients, each step bounded: a broker that no longer answers must not
hold a SIGTERM past the drain budget (the step is logged and the stop goes on)."""
from __future__ import annotations

import asyncio
from collections.abc import Awaitable

import structlog
from aiokafka.errors import KafkaError

log = structlog.get_logger(__name__)

STOP_STEP_S = 5.0


async def bounded(step: Awaitable[None], seconds: float, what: str) -> None:
    try:
        await asyncio.wait_for(step, seconds)
    except asyncio.TimeoutError:
        log.warning("stop_step_timed_out", step=what, seconds=seconds)
    except KafkaError as exc:
        log.warning("stop_step_failed", step=what, error=repr(exc))
