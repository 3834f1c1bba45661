"""The last guard of a bounded shutdown: once a stop is asked for, the process ends within the drain
budget plus a grace, even if some client library waits for ever on a broker or database that does
not answer. A daemon thread, so it works while the event loop is blocked too. Armed only by the
`mortard run` process (never inside a test runner)."""
from __future__ import annotations

import asyncio
import os
import sys
import threading
from collections.abc import Collection

import structlog

log = structlog.get_logger(__name__)

STOP_GRACE_S = 10.0   # past [daemon] drain_timeout_s: room for the final commit and leaving the group
EXIT_STOP_TIMED_OUT = 75   # sysexits EX_TEMPFAIL: stopped, but not cleanly; uncommitted work is replayed
CANCEL_GRACE_S = 1.0       # a cancelled task gets this long to unwind before the stop goes on without it


def arm_exit_deadline(seconds: float) -> threading.Timer:
    """After `seconds`, write one line to stderr and end the process, unless cancelled first."""
    timer = threading.Timer(seconds, _exit, args=(seconds,))
    timer.daemon = True
    timer.start()
    return timer


def _exit(seconds: float) -> None:
    sys.stderr.write(f"mortard: shutdown did not finish within {seconds:g}s; exiting anyway "
                     "(what was not committed is replayed by the next owner)\n")
    sys.stderr.flush()
    os._exit(EXIT_STOP_TIMED_OUT)


async def end_tasks(tasks: Collection[asyncio.Future[None]], what: str) -> None:
    """Cancel what still runs and wait at most CANCEL_GRACE_S for it. A task may swallow its
    cancellation (Python 3.11's wait_for returns the inner result when cancelled just as it
    completes; aiokafka's stop suppresses CancelledError around its own tasks): it is left behind,
    logged, instead of holding the stop for ever."""
    for task in tasks:
        task.cancel()
    if not tasks:
        return
    _, pending = await asyncio.wait(tasks, timeout=CANCEL_GRACE_S)
    for task in pending:
        name = task.get_name() if isinstance(task, asyncio.Task) else repr(task)
        log.warning("stop_step_abandoned", step=what, task=name, seconds=CANCEL_GRACE_S)
        task.add_done_callback(_quiet)


def _quiet(task: asyncio.Future[None]) -> None:
    """Whatever an abandoned task ends with is nobody's business now: don't let asyncio report it."""
    if not task.cancelled():
        task.exception()
