"""Waiting for Postgres and Kafka at start: retry with backoff for a bounded time, then give up with
one line that names the dependency and its address (no traceback), so the supervisor's log says what
is wrong and its restart policy decides what next. And, once started, the cyclic GC (`settle_gc`)."""
from __future__ import annotations

import asyncio
import gc
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar
from urllib.parse import urlsplit

import structlog

T = TypeVar("T")

log = structlog.get_logger(__name__)

EX_CONFIG = 78        # sysexits.h: a wrong configuration; systemd's RestartPreventExitStatus=78
EX_UNAVAILABLE = 69   # sysexits.h: a service mortard needs could not be reached in time


class StartupFailed(Exception):
    """A dependency stayed unreachable for the whole start budget (or refused us outright)."""


def postgres_address(url: str) -> str:
    """host:port/database of a libpq URL, without user or password."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or "localhost"
        port = parts.port or 5432
    except ValueError:
        return "(unparseable database.url)"
    return f"{host}:{port}{parts.path or ''}"


async def with_retries(what: str, address: str, attempt: Callable[[], Awaitable[T]], *, budget_s: float,
                       retry_on: tuple[type[BaseException], ...],
                       refuse_on: tuple[type[BaseException], ...] = (), first_delay_s: float = 0.5,
                       max_delay_s: float = 5.0) -> T:
    """`await attempt()` until it works; on `retry_on` errors wait (doubling, capped) and try again
    until `budget_s` has passed, then raise `StartupFailed`. A `refuse_on` error (a wrong password,
    a missing topic: retrying will not help) raises `StartupFailed` at once; others propagate."""
    deadline = time.monotonic() + budget_s
    delay = first_delay_s
    tries = 0
    while True:
        tries += 1
        try:
            return await attempt()
        except retry_on as exc:   # checked first: a retryable error may also be a refuse_on type
            left = deadline - time.monotonic()
            if left <= 0:
                raise StartupFailed(f"cannot reach {what} at {address} after {tries} tries in {budget_s:g}s: "
                                    f"{reason(exc)}") from None
            wait = min(delay, left)
            log.warning("startup_waiting", dependency=what, address=address, error=reason(exc),
                        retry_in_s=round(wait, 2))
            await asyncio.sleep(wait)
            delay = min(delay * 2, max_delay_s)
        except refuse_on as exc:
            raise StartupFailed(f"{what} at {address} refused: {reason(exc)}") from None


def reason(exc: BaseException) -> str:
    """One short line: the exception's type and first line of message."""
    text = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


# The cyclic GC, once the daemon has started. By default (700, 10, 10) a burst of ~700 container
# allocations (one parsed Heartland answer, one order's plan) sets off a young collection, ~1,500 in a
# 2,000-order run, and every full collection walks the whole heap again: modules, config and each
# account's client, limits, catalog and metrics children (a few hundred objects per account), and
# finds nothing to free. Refcounting frees almost everything here; the collector only has to catch
# the odd cycle (tasks, exceptions with tracebacks), which 10,000 allocations of slack still does.
GC_YOUNG_THRESHOLD = 10_000


def settle_gc() -> None:
    """After start: what start built is frozen out of the collector's scans (it lives as long as the
    process), and young collections come every `GC_YOUNG_THRESHOLD` net allocations, not 700."""
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(GC_YOUNG_THRESHOLD, older, oldest)
    gc.freeze()
