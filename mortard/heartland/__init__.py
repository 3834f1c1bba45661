"""The Heartland Retail API client: accounts, limits, errors (see docs/heartland-contract.md)."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mortard.secret import Secret

from ._filter import F, Filter, encode_filter
from .dialect import DEFAULT_DIALECT, Dialect
from .errors import (
    HeartlandAmbiguous,
    HeartlandError,
    HeartlandForbidden,
    HeartlandNotFound,
    HeartlandPaymentError,
    HeartlandRateLimited,
    HeartlandServerError,
    HeartlandUnauthorized,
    HeartlandUnavailable,
    HeartlandValidationError,
)
from .limits import (
    AccountLimits,
    AimdLimit,
    CircuitBreaker,
    Clock,
    FairSlots,
    FakeClock,
    MonotonicClock,
    Outcome,
    RateGate,
)

# The client (and so aiohttp) loads on first use: the pure sync core imports this package's dialect
# and errors, and stays free of I/O libraries.
_CLIENT_NAMES = ("HeartlandAccount", "HeartlandClient", "HeartlandObserver", "NullObserver", "RetryPolicy")

if TYPE_CHECKING:
    from .client import HeartlandAccount, HeartlandClient, HeartlandObserver, NullObserver, RetryPolicy


def __getattr__(name: str) -> Any:
    if name in _CLIENT_NAMES:
        from . import client
        return getattr(client, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "DEFAULT_DIALECT",
    "AccountLimits",
    "AimdLimit",
    "CircuitBreaker",
    "Clock",
    "Dialect",
    "F",
    "FairSlots",
    "FakeClock",
    "Filter",
    "HeartlandAccount",
    "HeartlandAmbiguous",
    "HeartlandClient",
    "HeartlandError",
    "HeartlandForbidden",
    "HeartlandNotFound",
    "HeartlandObserver",
    "HeartlandPaymentError",
    "HeartlandRateLimited",
    "HeartlandServerError",
    "HeartlandUnauthorized",
    "HeartlandUnavailable",
    "HeartlandValidationError",
    "MonotonicClock",
    "NullObserver",
    "Outcome",
    "RateGate",
    "RetryPolicy",
    "Secret",
    "encode_filter",
]
