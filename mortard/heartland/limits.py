"""Per-account limits for Heartland calls, and a fair global bound on in-flight orders.

Layering per account (shared/docs/engineering-notes.md §4):
    429 pause  ->  RateGate (GCRA)  ->  AimdLimit (adaptive concurrency)  ->  CircuitBreaker  ->  request

Everything takes a `Clock` (clock.py), so tests drive time with `FakeClock` and never really sleep.
The breaker is breaker.py's, `Outcome` outcome.py's; all stay importable from here.
"""
from __future__ import annotations

import asyncio
import heapq
import math
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any


__all__ = [
    "AccountLimits",
    "AimdLimit",
    "CircuitBreaker",
    "Clock",
    "FairSlots",
    "FakeClock",
    "MonotonicClock",
    "Outcome",
    "Permit",
    "RateGate",
]


from .breaker import CircuitBreaker
from .clock import Clock, FakeClock, MonotonicClock
from .outcome import Outcome


# ------------------------------------------------------------------------------------------ rate gate
class RateGate:
    """GCRA: one theoretical arrival time (TAT); `burst` requests may go at once, then `rate`/s.

    `arrival_jitter` (seconds) is kept back from the burst credit: requests leave here spaced by the
    rate, but reach the server's bucket bunched by however much their connection setup and network
    time vary, and a bunch bigger than the server's burst is answered 429. The credit left is
    `(burst - 1) / rate - arrival_jitter`, never below none (then the plain rate).
    """

    def __init__(self, rate_per_second: float, burst: int, clock: Clock, arrival_jitter: float = 0.0) -> None:
        if rate_per_second <= 0 or burst < 1:
            raise ValueError("rate_per_second must be > 0 and burst >= 1")
        if arrival_jitter < 0:
            raise ValueError("arrival_jitter must be >= 0")
        self._interval = 1.0 / rate_per_second
        self._tolerance = max(0.0, (burst - 1) * self._interval - arrival_jitter)
        self._clock = clock
        self._tat = clock.now()

    def delay(self) -> float:
        """Seconds until a request would be allowed now (0 = at once). Reserves nothing."""
        now = self._clock.now()
        return max(0.0, max(self._tat, now) - self._tolerance - now)

    def reserve(self) -> float:
        """Take the next slot; return how long to wait for it."""
        now = self._clock.now()
        tat = max(self._tat, now)
        self._tat = tat + self._interval
        return max(0.0, tat - self._tolerance - now)

    async def acquire(self) -> None:
        wait = self.reserve()
        if wait > 0:
            await self._clock.sleep(wait)

    def hold_until(self, when: float) -> None:
        """Nothing before `when`, then the plain rate with no burst credit (after a 429 pause, a
        burst would only meet the server's still-empty bucket and draw the next 429)."""
        self._tat = max(self._tat, when + self._tolerance)


# ------------------------------------------------------------------------------------------ AIMD
class AimdLimit:
    """Adaptive concurrency limit (Netflix AIMDLimit, loss-based).

    A drop (429/timeout/5xx) cuts `limit = max(min, min(limit-1, floor(limit*ratio)))`; successes grow
    it by one, but only while busy (in-flight*2 >= limit) and at most once per `limit` such successes.
    """

    def __init__(
        self, initial: int, max_limit: int, *, min_limit: int = 1, backoff_ratio: float = 0.9
    ) -> None:
        if not 1 <= min_limit <= initial <= max_limit:
            raise ValueError("need 1 <= min_limit <= initial <= max_limit")
        if not 0.5 <= backoff_ratio < 1.0:
            raise ValueError("backoff_ratio must be in [0.5, 1.0)")
        self.limit = initial
        self.min_limit = min_limit
        self.max_limit = max_limit
        self.backoff_ratio = backoff_ratio
        self.in_flight = 0
        self._busy_successes = 0
        self._waiters: deque[asyncio.Future[None]] = deque()

    async def acquire(self) -> None:
        if self.in_flight < self.limit and not self._waiters:
            self.in_flight += 1
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(fut)
        try:
            await fut  # the releaser counted us in before waking us
        except asyncio.CancelledError:
            if fut.done() and not fut.cancelled():
                self._release_slot()
            else:
                self._waiters.remove(fut)
            raise

    def release(self, outcome: Outcome = Outcome.SUCCESS) -> None:
        if outcome is Outcome.SUCCESS:
            self._on_success()
        elif outcome in (Outcome.OVERLOAD, Outcome.FAILURE):
            self.on_drop()
        self._release_slot()

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[Permit]:
        await self.acquire()
        permit = Permit()
        try:
            yield permit
        finally:
            self.release(permit.outcome)

    def on_drop(self) -> None:
        self.limit = max(self.min_limit, min(self.limit - 1, math.floor(self.limit * self.backoff_ratio)))
        self._busy_successes = 0

    def _on_success(self) -> None:
        if self.in_flight * 2 < self.limit:
            return  # idle: don't inflate the limit
        self._busy_successes += 1
        if self._busy_successes >= self.limit and self.limit < self.max_limit:
            self.limit += 1
            self._busy_successes = 0

    def _release_slot(self) -> None:
        self.in_flight -= 1
        self._wake()

    def _wake(self) -> None:
        while self._waiters and self.in_flight < self.limit:
            fut = self._waiters.popleft()
            if not fut.done():
                self.in_flight += 1
                fut.set_result(None)


@dataclass(slots=True)
class Permit:
    """Handed out by a limiter's `slot()`; set `outcome` before leaving the block."""

    outcome: Outcome = Outcome.IGNORE


# ------------------------------------------------------------------------------------------ breaker


# ------------------------------------------------------------------------------------------ account
class AccountLimits:
    """Everything that gates one Heartland account's requests.

        async with limits.slot() as permit:
            ... send ...
            permit.outcome = Outcome.SUCCESS

    `pause(seconds)` (after a 429) holds every request of the account until the pause ends.
    """

    def __init__(
        self,
        name: str,
        *,
        rate_per_second: float = 5.0,
        burst: int = 10,
        arrival_jitter: float = 0.0,
        initial_concurrency: int = 4,
        max_concurrency: int = 8,
        breaker_threshold: int = 5,
        breaker_cooldown: float = 30.0,
        max_pause: float = 300.0,
        clock: Clock | None = None,
    ) -> None:
        self.name = name
        self.clock: Clock = clock or MonotonicClock()
        self.rate = RateGate(rate_per_second, burst, self.clock, arrival_jitter)
        self.concurrency = AimdLimit(min(initial_concurrency, max_concurrency), max_concurrency)
        self.breaker = CircuitBreaker(
            self.clock, threshold=breaker_threshold, cooldown=breaker_cooldown, account=name
        )
        self.max_pause = max_pause
        self._paused_until = float("-inf")

    @classmethod
    def for_account(cls, account: Any, *, clock: Clock | None = None, **kw: Any) -> AccountLimits:
        """Limits from a `HeartlandAccount`'s settings."""
        return cls(
            account.name,
            rate_per_second=account.rate_per_second,
            burst=account.burst,
            arrival_jitter=account.arrival_jitter,
            initial_concurrency=account.initial_concurrency,
            max_concurrency=account.max_concurrency,
            clock=clock,
            **kw,
        )

    # readable state, for metrics
    @property
    def concurrency_limit(self) -> int:
        return self.concurrency.limit

    @property
    def in_flight(self) -> int:
        return self.concurrency.in_flight

    @property
    def breaker_state(self) -> str:
        return self.breaker.state

    @property
    def paused_until(self) -> float | None:
        """Clock time the 429 pause ends, or None when not paused."""
        return self._paused_until if self._paused_until > self.clock.now() else None

    def pause(self, seconds: float) -> None:
        """Hold every request of this account for `seconds` (capped at `max_pause`), then resume at
        the plain rate, without the burst."""
        until = self.clock.now() + min(max(0.0, seconds), self.max_pause)
        self._paused_until = max(self._paused_until, until)
        self.rate.hold_until(self._paused_until)

    async def wait_pause(self) -> None:
        while (remaining := self._paused_until - self.clock.now()) > 0:
            await self.clock.sleep(remaining)

    async def _pace(self) -> None:
        """Wait out any pause, then for a rate slot; a slot reserved before a pause began is stale
        (the pause moved the schedule), so take a new one rather than fire with the crowd."""
        while True:
            await self.wait_pause()
            await self.rate.acquire()
            if self.paused_until is None:
                return

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[Permit]:
        await self._pace()
        self.breaker.check()
        await self.concurrency.acquire()
        permit = Permit()
        try:
            if self.paused_until is not None:  # a 429 landed while we queued for concurrency
                await self._pace()
            probe = self.breaker.enter()
        except BaseException:
            self.concurrency.release(Outcome.IGNORE)
            raise
        try:
            yield permit
        finally:
            self.breaker.record(permit.outcome, probe)
            self.concurrency.release(permit.outcome)


# ------------------------------------------------------------------------------------------ fairness
class FairSlots:
    """A global bound on in-flight orders, shared fairly by accounts.

    A freed slot goes to the waiting account that was served least recently (round-robin across
    accounts with waiters, like Hatchet's GROUP_ROUND_ROBIN), so one account's backlog can't starve
    another account's single order. Within an account, waiters are served FIFO.
    """

    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError("capacity must be >= 1")
        self.capacity = capacity
        self.in_use = 0
        self._held: dict[str, int] = {}
        self._waiting: dict[str, deque[asyncio.Future[None]]] = {}
        self._last_served: dict[str, int] = {}
        self._serial = 0
        # The waiting accounts by (last served, when queued): the next freed slot's account is the
        # heap's top, without a pass over every account (~one per shop) at each release.
        self._turns: list[tuple[int, int, str]] = []
        self._turn: dict[str, tuple[int, int, str]] = {}
        self._order = 0

    def waiting(self, account: str | None = None) -> int:
        if account is not None:
            return len(self._waiting.get(account, ()))
        return sum(len(q) for q in self._waiting.values())

    def held(self, account: str) -> int:
        return self._held.get(account, 0)

    @asynccontextmanager
    async def slot(self, account: str) -> AsyncIterator[None]:
        await self.acquire(account)
        try:
            yield
        finally:
            self.release(account)

    async def acquire(self, account: str) -> None:
        if self.in_use < self.capacity and not self._waiting:
            self._grant(account)
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        queue = self._waiting.get(account)
        if queue is None:
            queue = self._waiting[account] = deque()
            self._queue_turn(account)
        queue.append(fut)
        try:
            await fut  # granted by release()
        except asyncio.CancelledError:
            if fut.done() and not fut.cancelled():
                self.release(account)
            else:
                self._forget_waiter(account, fut)
            raise

    def release(self, account: str) -> None:
        self.in_use -= 1
        left = self._held.get(account, 0) - 1
        if left > 0:
            self._held[account] = left
        else:
            self._held.pop(account, None)
        self._hand_over()
        if account not in self._held and account not in self._waiting:
            self._last_served.pop(account, None)

    def _grant(self, account: str) -> None:
        self.in_use += 1
        self._held[account] = self._held.get(account, 0) + 1
        self._serial += 1
        self._last_served[account] = self._serial

    def _hand_over(self) -> None:
        while self.in_use < self.capacity and self._waiting:
            turn = heapq.heappop(self._turns)
            account = turn[2]
            if self._turn.get(account) is not turn:
                continue   # left the queue since (its last waiter cancelled)
            queue = self._waiting[account]
            fut = queue.popleft()
            granted = not fut.done()
            if granted:
                self._grant(account)
            if not queue:
                del self._waiting[account]
                del self._turn[account]
                if not self._waiting:
                    self._turns.clear()   # only stale entries left
            elif granted:   # served: to the back, behind every account waiting now
                self._queue_turn(account)
            else:
                heapq.heappush(self._turns, turn)
            if granted:
                fut.set_result(None)

    def _queue_turn(self, account: str) -> None:
        self._order += 1
        turn = (self._last_served.get(account, -1), self._order, account)
        self._turn[account] = turn
        heapq.heappush(self._turns, turn)

    def _forget_waiter(self, account: str, fut: asyncio.Future[None]) -> None:
        queue = self._waiting.get(account)
        if queue is None:
            return
        try:
            queue.remove(fut)
        except ValueError:
            pass
        if not queue:
            del self._waiting[account]
            del self._turn[account]   # its entry in the heap is skipped when it comes up
            if not self._waiting:
                self._turns.clear()
