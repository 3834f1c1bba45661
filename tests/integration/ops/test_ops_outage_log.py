"""Postgres away: the scheduler's sweep, pointed at a closed port, logs one line per failure class and
interval — not a traceback every sweep — and says once that it works again. A bug still logs each
time with its traceback."""
from __future__ import annotations

import asyncio
import socket

import asyncpg
import structlog
from structlog.testing import capture_logs

from mortard.ops.throttled_log import ThrottledLog, is_outage
from mortard.sync.scheduler import Scheduler


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]       # nothing listens once the socket is closed


class Slots:
    def slot(self, account: str):
        raise AssertionError("no order should run")


class Store:
    """claim_due over a real connection attempt to `url`; healthy once `up` is set."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.up = False
        self.calls = 0
        self.bug = False

    async def claim_due(self, limit: int) -> list[tuple[str, int]]:
        self.calls += 1
        if self.bug:
            raise KeyError("a bug, not an outage")
        if not self.up:
            conn = await asyncpg.connect(self.url, timeout=1)
            await conn.close()
        return []


async def sweep_for(scheduler: Scheduler, seconds: float) -> None:
    scheduler.start()
    await asyncio.sleep(seconds)
    await scheduler.drain(1)


async def test_a_sweep_against_a_closed_port_logs_once_per_interval_then_says_it_recovered():
    store = Store(f"postgresql://mortard@127.0.0.1:{closed_port()}/mortard")
    outage = ThrottledLog(structlog.get_logger("mortard.sync.scheduler"), interval_s=60.0, only=is_outage)
    scheduler = Scheduler(None, store, lambda shop: "acme", slots=Slots(), sweep_interval_s=0.01,
                          outage_log=outage)
    with capture_logs() as logs:
        scheduler.start()
        await asyncio.sleep(1.0)
        store.up = True
        await asyncio.sleep(0.2)
        await scheduler.drain(1)
    assert store.calls >= 30, store.calls          # it did sweep, every 10 ms, against the closed port
    failed = [e for e in logs if e["event"] == "sweep_failed"]
    assert len(failed) == 1, failed
    assert failed[0]["error_type"] == "ConnectionRefusedError" and "exc_info" not in failed[0]
    assert len(failed[0]["error"]) <= 300
    recovered = [e for e in logs if e["event"] == "sweep_recovered"]
    assert len(recovered) == 1 and recovered[0]["suppressed"] >= 25


async def test_without_the_throttled_log_or_for_a_bug_each_sweep_logs_its_traceback():
    store = Store("postgresql://unused@127.0.0.1:1/x")
    store.bug = True
    outage = ThrottledLog(structlog.get_logger("mortard.sync.scheduler"), only=is_outage)
    scheduler = Scheduler(None, store, lambda shop: "acme", slots=Slots(), sweep_interval_s=0.01,
                          outage_log=outage)
    with capture_logs() as logs:
        await sweep_for(scheduler, 0.3)
    failed = [e for e in logs if e["event"] == "sweep_failed"]
    assert len(failed) == store.calls >= 5 and all(e.get("exc_info") for e in failed)
