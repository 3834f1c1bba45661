from __future__ import annotations

import asyncio
import time

from mortard.ops.loop_monitor import LoopMonitor
from mortard.ops.metrics import Metrics


class FakeNotifier:
    enabled = True

    def __init__(self) -> None:
        self.pings = 0

    def watchdog(self) -> bool:
        self.pings += 1
        return True


async def test_watchdog_pings_stop_while_progress_check_is_false() -> None:
    state = {"progress": True}
    notifier = FakeNotifier()
    mon = LoopMonitor(
        Metrics(), interval=0.01, notifier=notifier, watchdog_every=0.01,  # type: ignore[arg-type]
        progress_check=lambda: state["progress"],
    )
    mon.start()
    try:
        await asyncio.sleep(0.15)
        assert notifier.pings >= 3

        state["progress"] = False
        before = notifier.pings
        await asyncio.sleep(0.15)
        assert notifier.pings == before
        assert mon.is_alive()  # the loop still ticks; only the pipeline is stuck

        state["progress"] = True
        await asyncio.sleep(0.1)
        assert notifier.pings > before
    finally:
        await mon.stop()


async def test_progress_check_that_raises_withholds_the_ping() -> None:
    notifier = FakeNotifier()

    def broken() -> bool:
        raise RuntimeError("db gone")

    mon = LoopMonitor(None, interval=0.01, notifier=notifier, watchdog_every=0.01, progress_check=broken)  # type: ignore[arg-type]
    mon.start()
    await asyncio.sleep(0.08)
    await mon.stop()
    assert notifier.pings == 0


async def test_pings_are_paced_by_watchdog_every() -> None:
    notifier = FakeNotifier()
    mon = LoopMonitor(None, interval=0.01, notifier=notifier, watchdog_every=10.0)  # type: ignore[arg-type]
    mon.start()
    await asyncio.sleep(0.1)
    await mon.stop()
    assert notifier.pings == 1


async def test_no_watchdog_configured_means_no_pings(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.delenv("WATCHDOG_USEC", raising=False)
    notifier = FakeNotifier()
    mon = LoopMonitor(None, interval=0.01, notifier=notifier)  # type: ignore[arg-type]
    mon.start()
    await asyncio.sleep(0.05)
    await mon.stop()
    assert notifier.pings == 0


async def test_lag_is_measured_when_the_loop_is_blocked() -> None:
    metrics = Metrics()
    mon = LoopMonitor(metrics, interval=0.05)
    mon.start()
    try:
        await asyncio.sleep(0.01)

        async def hog() -> None:
            time.sleep(0.2)  # blocks the whole loop

        await hog()
        await asyncio.sleep(0.12)
    finally:
        await mon.stop()
    lag_sum = metrics.registry.get_sample_value("mortard_event_loop_lag_distribution_seconds_sum")
    assert lag_sum is not None and lag_sum >= 0.1
    over = metrics.registry.get_sample_value("mortard_event_loop_lag_distribution_seconds_bucket", {"le": "0.1"})
    total = metrics.registry.get_sample_value("mortard_event_loop_lag_distribution_seconds_count")
    assert over is not None and total is not None and total > over  # one sample above 100 ms


async def test_last_tick_and_liveness() -> None:
    mon = LoopMonitor(None, interval=0.01)
    assert not mon.is_alive()  # not started
    mon.start()
    await asyncio.sleep(0.05)
    assert mon.seconds_since_tick() < 0.05
    assert mon.is_alive(max_age=1.0)
    await mon.stop()
    assert not mon.is_alive()
