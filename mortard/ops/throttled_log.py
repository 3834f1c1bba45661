"""Log a repeating failure once per class and interval, not once per loop turn.

A loop that sweeps every second against a Postgres that is down would otherwise print a multi-KB
traceback each sweep. `ThrottledLog.failure(event, exc)` logs one line (no traceback) the first time
a failure class (the exception's type) is seen, then at most once per `interval_s` for that class,
saying how many were suppressed meanwhile; `recovered(event)` logs once when the loop works again.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

__all__ = ["ThrottledLog"]


class ThrottledLog:
    def __init__(self, logger: Any, *, interval_s: float = 60.0,
                 clock: Callable[[], float] = time.monotonic,
                 only: Callable[[BaseException], bool] | None = None) -> None:
        self._log = logger
        self._only = only              # `handles`: which failures this log throttles (None: all)
        self.interval_s = interval_s
        self._clock = clock
        self._last: dict[str, float] = {}          # failure class -> when it was last logged
        self._suppressed: dict[str, int] = {}      # failure class -> failures not logged since

    @staticmethod
    def failure_class(exc: BaseException) -> str:
        return type(exc).__name__

    def failure(self, event: str, exc: BaseException, **fields: Any) -> bool:
        """Count a failure; log it if its class was not logged within the interval. True if logged."""
        key = self.failure_class(exc)
        now = self._clock()
        last = self._last.get(key)
        if last is not None and now - last < self.interval_s:
            self._suppressed[key] = self._suppressed.get(key, 0) + 1
            return False
        self._last[key] = now
        suppressed = self._suppressed.pop(key, 0)
        extra = {"suppressed": suppressed} if suppressed else {}
        self._log.warning(event, error=str(exc)[:300], error_type=key, **extra, **fields)
        return True

    def handles(self, event: str, exc: BaseException, **fields: Any) -> bool:
        """For loops that log anything else with its traceback: True when `exc` is one of the failures
        this log throttles (counted, perhaps logged); False when the caller must log it itself."""
        if self._only is not None and not self._only(exc):
            return False
        self.failure(event, exc, **fields)
        return True

    def recovered(self, event: str, **fields: Any) -> bool:
        """After failures, log once that it works again (and reset). True if logged."""
        if not self._last:
            return False
        suppressed = sum(self._suppressed.values())
        self._log.info(event + "_recovered", failure_classes=sorted(self._last),
                       **({"suppressed": suppressed} if suppressed else {}), **fields)
        self._last.clear()
        self._suppressed.clear()
        return True


def is_outage(exc: BaseException) -> bool:
    """A failure that says the database (or the network to it) is away, not a bug: these are the ones
    worth throttling. Anything else keeps its traceback."""
    import asyncpg
    return isinstance(exc, (OSError, TimeoutError, asyncpg.InterfaceError, asyncpg.CannotConnectNowError,
                            asyncpg.PostgresConnectionError))
