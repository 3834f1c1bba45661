"""A Heartland account as configured, the client's metrics hooks and its retry policy."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from mortard.secret import Secret

__all__ = ["HeartlandAccount", "HeartlandObserver", "NullObserver", "RetryPolicy"]


@dataclass(frozen=True, slots=True)
class HeartlandAccount:
    """One Heartland Retail account (subdomain) and its limits. `token` may be given as a str."""

    name: str
    token: Secret = field(repr=False)
    base_url: str = ""  # default https://{name}.retail.heartland.us/api/
    rate_per_second: float = 5.0
    burst: int = 10
    arrival_jitter: float = 0.05   # seconds of burst credit kept back for bunched arrivals (RateGate)
    max_concurrency: int = 8
    initial_concurrency: int = 4
    request_timeout: float = 10.0

    def __post_init__(self) -> None:
        if not isinstance(self.token, Secret):
            object.__setattr__(self, "token", Secret(str(self.token)))
        url = self.base_url or f"https://{self.name}.retail.heartland.us/api/"
        object.__setattr__(self, "base_url", url if url.endswith("/") else url + "/")


# ---------------------------------------------------------------------------------------- hooks
class HeartlandObserver(Protocol):
    """Metrics hooks (the ops layer plugs Prometheus in). `status` is None when no answer came."""

    def on_response(self, account: str, method: str, status: int | None, seconds: float) -> None: ...

    def on_rate_limited(self, account: str) -> None: ...


class NullObserver:
    def on_response(self, account: str, method: str, status: int | None, seconds: float) -> None:
        pass

    def on_rate_limited(self, account: str) -> None:
        pass


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Brief in-process retries for reads (and for requests that were provably never sent)."""

    attempts: int = 3
    base_delay: float = 0.25  # first backoff, doubled each attempt, jittered
    max_delay: float = 2.0
    budget: float = 5.0  # total seconds a call may spend retrying
    max_retry_after: float = 5.0  # a longer 429 Retry-After is raised, not waited out
    default_retry_after: float = 10.0  # when a 429 has no usable Retry-After
