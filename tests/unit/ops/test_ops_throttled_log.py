"""ThrottledLog: one line per failure class and interval, a count of what it kept quiet, one line on
recovery; with `only`, other failures are left to the caller (who logs them with their traceback)."""
from __future__ import annotations

from typing import Any

from mortard.ops.throttled_log import ThrottledLog, is_outage


class FakeLog:
    def __init__(self) -> None:
        self.lines: list[tuple[str, str, dict[str, Any]]] = []

    def warning(self, event: str, **kw: Any) -> None:
        self.lines.append(("warning", event, kw))

    def info(self, event: str, **kw: Any) -> None:
        self.lines.append(("info", event, kw))


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def test_one_line_per_class_and_interval_with_the_count_it_suppressed():
    log, clock = FakeLog(), Clock()
    t = ThrottledLog(log, interval_s=60.0, clock=clock)
    logged = []
    for _ in range(120):                      # a sweep a second for two minutes, Postgres refusing
        logged.append(t.failure("sweep_failed", ConnectionRefusedError(111, "Connect call failed")))
        clock.t += 1.0
    assert logged.count(True) == 2 and logged[0] and logged[60]
    assert [line[1] for line in log.lines] == ["sweep_failed", "sweep_failed"]
    first, second = log.lines[0][2], log.lines[1][2]
    assert first["error_type"] == "ConnectionRefusedError" and "suppressed" not in first
    assert second["suppressed"] == 59
    assert "Connect call failed" in first["error"]


def test_each_failure_class_has_its_own_interval():
    log, clock = FakeLog(), Clock()
    t = ThrottledLog(log, interval_s=60.0, clock=clock)
    for _ in range(10):
        t.failure("sweep_failed", ConnectionRefusedError())
        t.failure("sweep_failed", TimeoutError())
        clock.t += 1.0
    assert sorted(line[2]["error_type"] for line in log.lines) == ["ConnectionRefusedError", "TimeoutError"]


def test_recovery_is_said_once_and_the_next_outage_logs_at_once():
    log, clock = FakeLog(), Clock()
    t = ThrottledLog(log, interval_s=60.0, clock=clock)
    assert t.recovered("sweep") is False          # nothing failed: nothing to say
    t.failure("sweep_failed", OSError("down"))
    t.failure("sweep_failed", OSError("down"))
    clock.t += 5
    assert t.recovered("sweep") is True
    assert t.recovered("sweep") is False
    assert log.lines[-1][:2] == ("info", "sweep_recovered") and log.lines[-1][2]["suppressed"] == 1
    clock.t += 1
    assert t.failure("sweep_failed", OSError("down again")) is True


def test_handles_only_what_it_is_told_to_throttle():
    import asyncpg
    log, clock = FakeLog(), Clock()
    t = ThrottledLog(log, clock=clock, only=is_outage)
    assert t.handles("sweep_failed", ConnectionRefusedError()) is True
    assert t.handles("sweep_failed", asyncpg.CannotConnectNowError("starting")) is True
    assert t.handles("sweep_failed", KeyError("a bug")) is False           # the caller logs its traceback
    assert t.handles("sweep_failed", asyncpg.UniqueViolationError("dup")) is False
    assert len(log.lines) == 2
