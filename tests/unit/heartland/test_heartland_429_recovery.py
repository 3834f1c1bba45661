"""After a 429 the account resumes at the configured rate instead of locking into a 429 storm."""
from __future__ import annotations

import asyncio

from mortard.heartland.limits import AccountLimits, FakeClock, Outcome


class _ServerBucket:
    """Heartland's side, as the sandbox models it: `burst` tokens refilled at `rate` per second."""

    def __init__(self, clock: FakeClock, rate: float, burst: int) -> None:
        self.clock, self.rate, self.burst = clock, rate, burst
        self.tokens = float(burst)
        self.at = clock.now()

    def take(self) -> bool:
        now = self.clock.now()
        self.tokens = min(self.burst, self.tokens + (now - self.at) * self.rate)
        self.at = now
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        return False


async def test_a_single_429_does_not_lock_the_account_at_its_burst_rate():
    clock = FakeClock()
    rate, burst = 50.0, 5
    limits = AccountLimits("acme", rate_per_second=rate, burst=burst, initial_concurrency=8,
                           max_concurrency=8, clock=clock)
    server = _ServerBucket(clock, rate, burst)
    served: list[float] = []
    rejected: list[float] = []

    async def worker() -> None:
        while clock.now() < 30:
            async with limits.slot() as permit:
                await clock.sleep(0.004)          # network latency
                if clock.now() >= 2 and not rejected:
                    server.tokens = 0             # someone else spends the bucket once: a 429
                if server.take():
                    served.append(clock.now())
                    permit.outcome = Outcome.SUCCESS
                else:
                    rejected.append(clock.now())
                    permit.outcome = Outcome.OVERLOAD
                    limits.pause(1.0)             # Retry-After: 1

    await asyncio.gather(*(worker() for _ in range(16)))
    window = [t for t in served if 20 <= t < 30]
    assert rejected, "the test must provoke at least one 429"
    assert len(window) >= 0.9 * rate * 10, (len(window), len(rejected))
    assert len(rejected) <= 3
