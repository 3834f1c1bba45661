"""The Heartland Retail API client: accounts, limits, errors (see docs/heartland-contract.md)."""
from __future__ import annotations

from ._filter import F, Filter, encode_filter
from .client import HeartlandAccount, HeartlandClient, HeartlandObserver, NullObserver, RetryPolicy, Secret
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
