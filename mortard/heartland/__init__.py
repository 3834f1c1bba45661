"""The Heartland edge: the HTTP client with its accounts and limits, and the gateway that implements
the order core's port over it (`gateway.py`). The dialect and the errors it speaks live in
`mortard.heartland_contract`, below the core, and are re-exported here for the client's users."""
from __future__ import annotations

from mortard.secret import Secret
from mortard.heartland_contract.dialect import DEFAULT_DIALECT, Dialect
from mortard.heartland_contract.errors import (
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

from ._filter import F, Filter, encode_filter
from .client import HeartlandAccount, HeartlandClient, HeartlandObserver, NullObserver, RetryPolicy
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
