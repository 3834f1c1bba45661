"""What the demo shows while it runs: one updating progress line on a terminal (plain lines otherwise),
with the logs kept from mixing into it.
"""
from __future__ import annotations

import asyncio
import shutil
import time
from collections.abc import Callable
from typing import IO

import asyncpg

from mortard.demo.play import PlayStats, order_counts
from mortard.demo.scenario import Scenario
from mortard.demo.stack import DemoStack


Progress = Callable[[str, bool], None]


class ProgressLine:
    """One updating line on a terminal; plain lines (at most every 2 s) otherwise."""

    def __init__(self, stream: IO[str] | None, quiet: bool = False) -> None:
        self.stream = stream
        self.quiet = quiet or stream is None
        self.tty = bool(stream is not None and _isatty(stream))
        self._last_plain = 0.0
        self._width = 0

    def say(self, text: str) -> None:
        if self.quiet:
            return
        self.clear()
        print(f"mortard demo: {text}", file=self.stream, flush=True)

    def update(self, text: str, force: bool = False) -> None:
        if self.quiet:
            return
        assert self.stream is not None
        if self.tty:
            cols = shutil.get_terminal_size((100, 20)).columns - 1
            line = text[:cols]
            self.stream.write("\r" + line + " " * max(0, self._width - len(line)))
            self.stream.flush()
            self._width = len(line)
        elif force or time.monotonic() - self._last_plain >= 2.0:
            self._last_plain = time.monotonic()
            print(text, file=self.stream, flush=True)

    def clear(self) -> None:
        if self.tty and self._width and self.stream is not None:
            self.stream.write("\r" + " " * self._width + "\r")
            self.stream.flush()
            self._width = 0


class LogStream:
    """Where the demo's logs go: stderr, after clearing the progress line so they don't mix."""

    def __init__(self, line: ProgressLine, stream: IO[str]) -> None:
        self._line = line
        self._stream = stream

    def write(self, text: str) -> int:
        self._line.clear()
        return self._stream.write(text)

    def flush(self) -> None:
        self._stream.flush()

    def isatty(self) -> bool:
        return _isatty(self._stream)


def _isatty(stream: IO[str]) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


async def progress_loop(stack: DemoStack, scenario: Scenario, stats: PlayStats, line: ProgressLine,
                        started: float, phase: list[str]) -> None:
    assert stack.pool is not None
    total = len(scenario.deliveries)
    while True:
        try:
            counts, busy, n = await order_counts(stack.pool)
        except (asyncpg.PostgresError, OSError):
            counts, busy, n = {}, 0, 0
        shown = ", ".join(f"{v} {k}" for k, v in sorted(counts.items(), key=lambda kv: -kv[1]))
        line.update(f"[{time.monotonic() - started:5.1f}s] {phase[0]}: webhooks {stats.sent}/{total} · "
                    f"orders {n - busy}/{len(scenario.orders)} settled · {shown}")
        await asyncio.sleep(0.25 if line.tty else 0.5)

