"""How one request ended, as the limits count it."""
from __future__ import annotations

import enum

__all__ = ["Outcome"]


class Outcome(enum.Enum):
    """How a request ended, as the limiters see it."""

    SUCCESS = "success"  # any HTTP answer that is not overload/failure (4xx included)
    OVERLOAD = "overload"  # 429: cut concurrency, the server is alive
    FAILURE = "failure"  # 5xx, timeout, connection error: cut concurrency, count for the breaker
    IGNORE = "ignore"  # cancelled / never classified: just release
