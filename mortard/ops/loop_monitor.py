"""Event-loop lag monitor and progress-gated systemd watchdog.

A task sleeps `interval` seconds, measures how late it wakes up (the lag: time the loop spent on
other, blocking work), publishes that, and records `last_tick` for `/healthz`.

The systemd watchdog is pinged from this task only, and only when `progress_check()` (if given)
returns True. A wedged loop stops ticking, so no ping; a stuck pipeline fails its progress check, so
no ping; either way systemd restarts the daemon after `WatchdogSec`. Never ping from a thread.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import structlog

from mortard.ops.metrics import Metrics
from mortard.ops.systemd import Notifier, watchdog_interval

_log = structlog.get_logger(__name__)


class LoopMonitor:
    """Measure loop lag every `interval` s; ping the watchdog at most every `watchdog_every` s.

    `watchdog_every` defaults to half of `WATCHDOG_USEC` (None = no watchdog). `progress_check`
    must be cheap and synchronous; an exception counts as "no progress" and is logged.
    """

    def __init__(
        self,
        metrics: Metrics | None = None,
        *,
        interval: float = 0.5,
        notifier: Notifier | None = None,
        watchdog_every: float | None = None,
        progress_check: Callable[[], bool] | None = None,
    ) -> None:
        self._metrics = metrics
        self._interval = interval
        self._notifier = notifier
        self._watchdog_every = watchdog_every if watchdog_every is not None else watchdog_interval()
        self._progress_check = progress_check
        self._task: asyncio.Task[None] | None = None
        self._last_ping = float("-inf")
        self._withholding = False
        #: `time.monotonic()` of the latest tick (start time before the first one).
        self.last_tick: float = time.monotonic()
        #: Lag measured on the latest tick, in seconds.
        self.last_lag: float = 0.0

    # -- liveness --------------------------------------------------------------------------------------

    def seconds_since_tick(self) -> float:
        return time.monotonic() - self.last_tick

    def is_alive(self, max_age: float = 10.0) -> bool:
        """True while the monitor runs and ticked within `max_age` seconds (use as `/healthz` liveness)."""
        running = self._task is not None and not self._task.done()
        return running and self.seconds_since_tick() <= max_age

    # -- lifecycle -------------------------------------------------------------------------------------

    def start(self) -> asyncio.Task[None]:
        if self._task is None or self._task.done():
            self.last_tick = time.monotonic()
            self._task = asyncio.create_task(self.run(), name="mortard-loop-monitor")
        return self._task

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None and not task.done():
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                pass

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            started = loop.time()
            await asyncio.sleep(self._interval)
            self._tick(max(0.0, loop.time() - started - self._interval))

    # -- one tick --------------------------------------------------------------------------------------

    def _tick(self, lag: float) -> None:
        self.last_tick = time.monotonic()
        self.last_lag = lag
        if self._metrics is not None:
            self._metrics.observe_loop_lag(lag)
        if lag >= 1.0:
            _log.warning("event_loop_lagging", lag_seconds=round(lag, 3))
        self._maybe_ping()

    def _maybe_ping(self) -> None:
        notifier, every = self._notifier, self._watchdog_every
        if notifier is None or every is None or not notifier.enabled:
            return
        if self.last_tick - self._last_ping < every:
            return
        if not self._progressing():
            if not self._withholding:
                _log.warning("watchdog_withheld", reason="no_progress")
                self._withholding = True
            return
        if self._withholding:
            _log.info("watchdog_resumed")
            self._withholding = False
        if notifier.watchdog():
            self._last_ping = self.last_tick

    def _progressing(self) -> bool:
        if self._progress_check is None:
            return True
        try:
            return bool(self._progress_check())
        except Exception:
            _log.exception("progress_check_failed")
            return False
