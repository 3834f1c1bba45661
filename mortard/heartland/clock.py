"""Time for the limits: the real monotonic clock, and a fake one that tests drive by hand."""
from __future__ import annotations

import asyncio
import heapq
import time
from typing import Protocol

__all__ = ["Clock", "FakeClock", "MonotonicClock"]


class Clock(Protocol):
    def now(self) -> float:
        """Monotonic seconds."""
        ...

    async def sleep(self, seconds: float) -> None: ...


class MonotonicClock:
    """The real clock."""

    def now(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))


class FakeClock:
    """Virtual time for tests: `sleep` never really waits.

    Sleepers wake in order of their wake-up time. Once a few event-loop turns pass with sleepers
    pending (i.e. the other tasks are blocked), time jumps to the earliest wake-up. `advance()` moves
    time by hand. `slept` records every requested sleep.
    """

    _SETTLE_TURNS = 20  # loop turns given to runnable tasks before virtual time jumps

    def __init__(self, start: float = 0.0) -> None:
        self._now = start
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._seq = 0
        self._ticking = False
        self.slept: list[float] = []

    def now(self) -> float:
        return self._now

    async def sleep(self, seconds: float) -> None:
        seconds = max(0.0, seconds)
        self.slept.append(seconds)
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[None] = loop.create_future()
        heapq.heappush(self._sleepers, (self._now + seconds, self._seq, fut))
        self._seq += 1
        if not self._ticking:
            self._ticking = True
            loop.call_soon(self._tick, self._SETTLE_TURNS)
        await fut

    def advance(self, seconds: float) -> None:
        self._now += seconds
        self._wake_due()

    def _tick(self, turns: int) -> None:
        loop = asyncio.get_running_loop()
        if turns > 0:
            loop.call_soon(self._tick, turns - 1)
            return
        self._drop_cancelled()
        if self._sleepers:
            self._now = max(self._now, self._sleepers[0][0])
            self._wake_due()
        self._drop_cancelled()
        if self._sleepers:
            loop.call_soon(self._tick, self._SETTLE_TURNS)
        else:
            self._ticking = False

    def _wake_due(self) -> None:
        while self._sleepers and self._sleepers[0][0] <= self._now:
            _, _, fut = heapq.heappop(self._sleepers)
            if not fut.done():
                fut.set_result(None)

    def _drop_cancelled(self) -> None:
        while self._sleepers and self._sleepers[0][2].done():
            heapq.heappop(self._sleepers)
