from __future__ import annotations

import asyncio

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mortard.heartland import (
    AccountLimits,
    AimdLimit,
    CircuitBreaker,
    FairSlots,
    FakeClock,
    HeartlandUnavailable,
    Outcome,
    RateGate,
)


# ------------------------------------------------------------------------------------------ clock
async def test_fake_clock_wakes_sleepers_in_time_order_without_really_sleeping() -> None:
    clock = FakeClock()
    woke: list[tuple[str, float]] = []

    async def sleeper(name: str, seconds: float) -> None:
        await clock.sleep(seconds)
        woke.append((name, clock.now()))

    await asyncio.gather(sleeper("late", 30.0), sleeper("early", 1.0), sleeper("mid", 5.0))
    assert woke == [("early", 1.0), ("mid", 5.0), ("late", 30.0)]


# ------------------------------------------------------------------------------------------ rate
def _max_in_window(times: list[float], window: float) -> int:
    times = sorted(times)
    best, lo = 0, 0
    for hi, t in enumerate(times):
        while times[lo] < t - window + 1e-9:
            lo += 1
        best = max(best, hi - lo + 1)
    return best


async def test_rate_gate_never_exceeds_rate_times_window_plus_burst() -> None:
    clock = FakeClock()
    gate = RateGate(rate_per_second=5.0, burst=10, clock=clock)
    started: list[float] = []

    async def request() -> None:
        await gate.acquire()
        started.append(clock.now())

    await asyncio.gather(*(request() for _ in range(200)))
    assert len(started) == 200
    assert started.count(0.0) == 10  # the burst goes at once
    for window in (0.5, 1.0, 3.0, 10.0, 40.0):
        assert _max_in_window(started, window) <= 5.0 * window + 10
    assert max(started) == pytest.approx((200 - 10) / 5.0)


def test_rate_gate_delay_is_non_blocking_and_reserves_nothing() -> None:
    clock = FakeClock()
    gate = RateGate(rate_per_second=2.0, burst=1, clock=clock)
    assert gate.delay() == 0.0
    assert gate.reserve() == 0.0
    assert gate.delay() == pytest.approx(0.5)
    assert gate.delay() == pytest.approx(0.5)  # asking again changes nothing
    clock.advance(0.5)
    assert gate.delay() == 0.0


@settings(deadline=None, max_examples=60)
@given(
    rate=st.floats(min_value=0.5, max_value=20),
    burst=st.integers(min_value=1, max_value=15),
    gaps=st.lists(st.floats(min_value=0, max_value=2), min_size=1, max_size=120),
)
def test_rate_gate_bound_holds_for_any_arrival_pattern(rate: float, burst: int, gaps: list[float]) -> None:
    clock = FakeClock()
    gate = RateGate(rate, burst, clock)
    admitted = []
    for gap in gaps:
        clock.advance(gap)
        admitted.append(clock.now() + gate.reserve())
    for window in (0.1, 1.0, 5.0):
        assert _max_in_window(admitted, window) <= rate * window + burst + 1e-6


def _rejected_by_server(sent: list[float], delays: list[float], rate: float, burst: int) -> int:
    """How many of these requests the sandbox's token bucket (Heartland's stand-in) answers 429, when
    each reaches it `delay` seconds after leaving the gate."""
    from mortard.sandbox.faults import _Bucket
    now = [0.0]
    bucket = _Bucket(lambda: now[0])
    rejected = 0
    for arrival in sorted(s + d for s, d in zip(sent, delays)):
        now[0] = arrival
        if bucket.tokens is not None:
            bucket.tokens += 1e-9   # float rounding at the bucket's exact edge is not a bunching
        rejected += bucket.take(rate, burst) > 0
    return rejected


def _schedule(gate: RateGate, clock: FakeClock, gaps: list[float]) -> list[float]:
    sent = []
    for gap in gaps:
        clock.advance(gap)
        sent.append(clock.now() + gate.reserve())
    return sent


def test_without_arrival_jitter_requests_bunched_on_the_way_draw_a_429() -> None:
    """Five go at once and are held up 40 ms on the way (new connections); the next two do not: the
    server's bucket meets seven requests in 20 ms."""
    delays = [0.04] * 5 + [0.0] * 3
    plain = _schedule(RateGate(50.0, 5, FakeClock()), FakeClock(), [0.0] * 8)
    assert _rejected_by_server(plain, delays, 50.0, 5) >= 1
    kept_back = _schedule(RateGate(50.0, 5, FakeClock(), arrival_jitter=0.05), FakeClock(), [0.0] * 8)
    assert _rejected_by_server(kept_back, delays, 50.0, 5) == 0


@settings(deadline=None, max_examples=300)
@given(
    rate=st.floats(min_value=1, max_value=100),
    burst=st.integers(min_value=2, max_value=15),
    share=st.floats(min_value=0, max_value=1),
    data=st.data(),
)
def test_arrivals_bunched_by_at_most_the_jitter_are_never_answered_429(rate, burst, share, data) -> None:
    """While the burst credit covers the jitter ((burst - 1) / rate >= jitter). Past that the gate
    gives the plain rate and the server may see two requests closer than 1 / rate."""
    jitter = share * (burst - 1) / rate
    # Mostly a backlog (gaps of 0: the gate spaces them), sometimes a pause that refills the credit.
    gaps = data.draw(st.lists(st.one_of(st.just(0.0), st.floats(min_value=0, max_value=0.5)), min_size=1, max_size=80))
    delays = data.draw(st.lists(st.floats(min_value=0, max_value=jitter),
                                min_size=len(gaps), max_size=len(gaps)))
    clock = FakeClock()
    sent = _schedule(RateGate(rate, burst, clock, arrival_jitter=jitter), clock, gaps)
    assert _rejected_by_server(sent, delays, rate, burst) == 0


def test_arrival_jitter_larger_than_the_burst_leaves_the_plain_rate() -> None:
    clock = FakeClock()
    gate = RateGate(10.0, 3, clock, arrival_jitter=1.0)
    assert gate.reserve() == 0.0
    assert gate.reserve() == pytest.approx(0.1)   # no burst credit left, never a negative one
    with pytest.raises(ValueError):
        RateGate(10.0, 3, clock, arrival_jitter=-0.01)


# ------------------------------------------------------------------------------------------ AIMD
def test_aimd_cuts_on_drop_and_never_below_one() -> None:
    limit = AimdLimit(initial=10, max_limit=16)
    limit.on_drop()
    assert limit.limit == 9  # min(10-1, floor(10*0.9)) = 9
    for _ in range(20):
        limit.on_drop()
    assert limit.limit == 1


async def test_aimd_429_and_failure_outcomes_cut_the_limit() -> None:
    limit = AimdLimit(initial=4, max_limit=8)
    await limit.acquire()
    limit.release(Outcome.OVERLOAD)
    assert limit.limit == 3
    await limit.acquire()
    limit.release(Outcome.FAILURE)
    assert limit.limit == 2
    await limit.acquire()
    limit.release(Outcome.IGNORE)
    assert limit.limit == 2 and limit.in_flight == 0


async def test_aimd_does_not_grow_while_idle() -> None:
    limit = AimdLimit(initial=4, max_limit=8)
    for _ in range(100):
        async with limit.slot() as permit:  # one at a time: 1*2 < 4
            permit.outcome = Outcome.SUCCESS
    assert limit.limit == 4


async def test_aimd_grows_by_one_per_limit_busy_successes() -> None:
    limit = AimdLimit(initial=4, max_limit=6)
    for _ in range(2):
        await limit.acquire()  # keep two in flight: 2*2 >= 4 counts as busy
    for i in range(4):
        await limit.acquire()
        limit.release(Outcome.SUCCESS)
        assert limit.limit == (5 if i == 3 else 4)
    for _ in range(50):
        await limit.acquire()
        await limit.acquire()
        limit.release(Outcome.SUCCESS)
        limit.release(Outcome.SUCCESS)
    assert limit.limit == 6  # capped at max


async def test_aimd_blocks_at_the_limit_and_wakes_waiters_fifo() -> None:
    limit = AimdLimit(initial=1, max_limit=4)
    await limit.acquire()
    order: list[int] = []

    async def waiter(i: int) -> None:
        await limit.acquire()
        order.append(i)
        limit.release(Outcome.IGNORE)

    tasks = [asyncio.create_task(waiter(i)) for i in range(3)]
    await asyncio.sleep(0)
    assert order == [] and limit.in_flight == 1
    limit.release(Outcome.IGNORE)
    await asyncio.gather(*tasks)
    assert order == [0, 1, 2] and limit.in_flight == 0


# ------------------------------------------------------------------------------------------ breaker
def test_breaker_opens_half_opens_and_closes() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(clock, threshold=3, cooldown=30.0, account="acme")
    for _ in range(3):
        assert breaker.enter() is False
        breaker.record(Outcome.FAILURE)
    assert breaker.state == "open"
    with pytest.raises(HeartlandUnavailable) as err:
        breaker.enter()
    assert err.value.retryable and err.value.account == "acme"
    assert err.value.retry_after == pytest.approx(30.0)

    clock.advance(30.0)
    assert breaker.enter() is True  # the single probe
    assert breaker.state == "half_open"
    with pytest.raises(HeartlandUnavailable):
        breaker.enter()  # only one probe at a time
    breaker.record(Outcome.SUCCESS, probe=True)
    assert breaker.state == "closed" and breaker.failures == 0


def test_breaker_probe_failure_reopens_for_another_cooldown() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(clock, threshold=1, cooldown=30.0)
    breaker.enter()
    breaker.record(Outcome.FAILURE)
    clock.advance(31.0)
    probe = breaker.enter()
    breaker.record(Outcome.FAILURE, probe)
    assert breaker.state == "open"
    clock.advance(29.0)
    with pytest.raises(HeartlandUnavailable):
        breaker.check()
    clock.advance(1.0)
    breaker.check()


def test_breaker_ignores_client_errors_and_needs_consecutive_failures() -> None:
    breaker = CircuitBreaker(FakeClock(), threshold=3)
    for outcome in [Outcome.FAILURE, Outcome.FAILURE, Outcome.SUCCESS, Outcome.FAILURE, Outcome.FAILURE]:
        breaker.enter()
        breaker.record(outcome)  # SUCCESS covers 4xx answers: the server is alive
    assert breaker.state == "closed"


def test_breaker_cancelled_probe_frees_the_probe_slot() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(clock, threshold=1, cooldown=5.0)
    breaker.enter()
    breaker.record(Outcome.FAILURE)
    clock.advance(5.0)
    probe = breaker.enter()
    breaker.record(Outcome.IGNORE, probe)
    assert breaker.enter() is True


# ------------------------------------------------------------------------------------------ account
async def test_a_429_pause_holds_every_request_of_the_account_until_it_ends() -> None:
    clock = FakeClock()
    limits = AccountLimits("acme", rate_per_second=100.0, burst=100, clock=clock)
    async with limits.slot() as permit:
        permit.outcome = Outcome.OVERLOAD
        limits.pause(5.0)
    assert limits.paused_until == pytest.approx(5.0)
    assert limits.concurrency_limit == 3  # cut from 4
    started: list[float] = []

    async def request() -> None:
        async with limits.slot() as p:
            started.append(clock.now())
            p.outcome = Outcome.SUCCESS

    await asyncio.gather(*(request() for _ in range(6)))
    assert len(started) == 6 and min(started) >= 5.0
    assert limits.paused_until is None


async def test_a_pause_arriving_while_requests_queue_still_holds_them() -> None:
    clock = FakeClock()
    limits = AccountLimits("acme", rate_per_second=1.0, burst=1, clock=clock)
    started: list[float] = []

    async def request() -> None:
        async with limits.slot() as p:
            started.append(clock.now())
            p.outcome = Outcome.SUCCESS

    first = asyncio.create_task(request())
    queued = asyncio.create_task(request())  # waits ~1 s in the rate gate
    await first
    limits.pause(10.0)
    await queued
    assert started == [0.0, 10.0]


async def test_account_limits_refuse_when_breaker_open_and_expose_state() -> None:
    clock = FakeClock()
    limits = AccountLimits("acme", breaker_threshold=2, breaker_cooldown=30.0, clock=clock)
    for _ in range(2):
        async with limits.slot() as p:
            p.outcome = Outcome.FAILURE
    assert limits.breaker_state == "open"
    with pytest.raises(HeartlandUnavailable):
        async with limits.slot():
            pass
    assert limits.in_flight == 0
    clock.advance(30.0)
    async with limits.slot() as p:
        assert limits.breaker_state == "half_open" and limits.in_flight == 1
        p.outcome = Outcome.SUCCESS
    assert limits.breaker_state == "closed"


# ------------------------------------------------------------------------------------------ fairness
async def test_fair_slots_give_the_quiet_account_the_next_free_slot() -> None:
    slots = FairSlots(capacity=2)
    await slots.acquire("busy")
    await slots.acquire("busy")
    served: list[str] = []

    async def order(account: str) -> None:
        await slots.acquire(account)
        served.append(account)

    backlog = [asyncio.create_task(order("busy")) for _ in range(100)]
    await asyncio.sleep(0)
    quiet = asyncio.create_task(order("quiet"))
    await asyncio.sleep(0)
    assert slots.waiting("busy") == 100 and slots.waiting("quiet") == 1

    slots.release("busy")
    await asyncio.sleep(0)
    assert served == ["quiet"]
    await quiet
    # then the backlog drains as slots free up
    slots.release("quiet")
    for _ in range(99):
        await asyncio.sleep(0)
        slots.release("busy")
    await asyncio.gather(*backlog)
    assert slots.in_use == 2


async def test_fair_slots_alternate_between_backlogged_accounts() -> None:
    slots = FairSlots(capacity=1)
    await slots.acquire("a")
    served: list[str] = []

    async def order(account: str) -> None:
        async with slots.slot(account):
            served.append(account)
            await asyncio.sleep(0)

    tasks = [asyncio.create_task(order("a")) for _ in range(5)]
    tasks += [asyncio.create_task(order("b")) for _ in range(3)]
    await asyncio.sleep(0)
    slots.release("a")
    await asyncio.gather(*tasks)
    assert served[:6] == ["b", "a", "b", "a", "b", "a"]
    assert slots.in_use == 0 and slots.waiting() == 0


async def test_fair_slots_cancelled_waiter_leaks_nothing() -> None:
    slots = FairSlots(capacity=1)
    await slots.acquire("a")
    waiter = asyncio.create_task(slots.acquire("b"))
    await asyncio.sleep(0)
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    slots.release("a")
    assert slots.in_use == 0 and slots.waiting() == 0
    async with slots.slot("c"):
        assert slots.in_use == 1
