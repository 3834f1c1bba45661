"""Fault injection (latency, 5xx, timeouts, commit-then-drop) and the per-account rate limit.

Settings are global with per-account overrides (only the fields an account sets). Randomness comes
from one `random.Random` per account seeded from `seed` and the account name, so a test that sends
the same requests sees the same faults.
"""
from __future__ import annotations

import fnmatch
import math
import random
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

MUTATING = frozenset({"POST", "PUT", "PATCH", "DELETE"})


@dataclass(frozen=True, slots=True)
class FaultSettings:
    rate_limit_rps: float | None = None   # token refill per second; None = no limit
    rate_limit_burst: int = 10            # bucket size
    latency_ms: float = 0.0               # added to every API request...
    jitter_ms: float = 0.0                # ...plus uniform(0, jitter_ms)
    error_rate: float = 0.0               # share of requests answered `error_status` before running
    error_status: int = 503
    timeout_rate: float = 0.0             # share of requests held `timeout_seconds`, then 504
    timeout_seconds: float = 30.0
    drop_rate: float = 0.0                # share of mutations performed, then the connection dropped
    routes: tuple[str, ...] = ()          # fnmatch patterns ("POST /api/sales/*") the rates apply to

    @property
    def quiet(self) -> bool:
        """No rate limit and nothing random: every request just gets `latency_ms`."""
        return (self.rate_limit_rps is None and not self.jitter_ms and not self.error_rate
                and not self.timeout_rate and not self.drop_rate)

    def matches(self, route: str) -> bool:
        return not self.routes or any(fnmatch.fnmatchcase(route, p) for p in self.routes)

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["routes"] = list(self.routes)
        return out


def check_settings(values: dict[str, Any]) -> dict[str, Any]:
    """Validate a partial settings object; returns it with `routes` as a tuple."""
    known = {f.name: f for f in fields(FaultSettings)}
    unknown = set(values) - set(known)
    if unknown:
        raise ValueError(f"unknown fault setting(s): {', '.join(sorted(unknown))}")
    out = dict(values)
    if "routes" in out:
        if not isinstance(out["routes"], list) or not all(isinstance(r, str) for r in out["routes"]):
            raise ValueError("routes must be a list of strings")
        out["routes"] = tuple(out["routes"])
    for key, value in out.items():
        if key == "routes" or (key == "rate_limit_rps" and value is None):
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
            raise ValueError(f"fault setting {key} must be a non-negative number")
        if key == "error_status" and not (isinstance(value, int) and 500 <= value <= 599):
            raise ValueError("error_status must be a 5xx status")
        if key == "rate_limit_burst" and not (isinstance(value, int) and value >= 1):
            raise ValueError("rate_limit_burst must be a positive integer")
        if key.endswith("_rate") and value > 1:
            raise ValueError(f"fault setting {key} must be between 0 and 1")
    replace(FaultSettings(), **out)
    return out


class _Bucket:
    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self.tokens: float | None = None
        self.stamp = clock()

    def take(self, rps: float, burst: int) -> float:
        """Take one token; 0 when allowed, else the seconds until a token is due."""
        now = self._clock()
        if self.tokens is None:
            self.tokens = float(burst)
        self.tokens = min(float(burst), self.tokens + (now - self.stamp) * rps)
        self.stamp = now
        if self.tokens >= 1:
            self.tokens -= 1
            return 0.0
        return (1 - self.tokens) / rps if rps > 0 else math.inf


@dataclass(frozen=True, slots=True)
class Decision:
    retry_after: int | None = None   # answer 429
    delay: float = 0.0               # sleep first
    error_status: int | None = None  # answer 5xx without running
    hold: float | None = None        # sleep this long, then 504, without running
    drop: bool = False               # run, then drop the connection


class Faults:
    """Fault settings and per-account state (bucket, random stream)."""

    def __init__(self, config: dict[str, Any] | None = None, *,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self.seed = 0
        self.global_settings = FaultSettings()
        self.overrides: dict[str, dict[str, Any]] = {}
        self._buckets: dict[str, _Bucket] = {}
        self._randoms: dict[str, random.Random] = {}
        self._effective: dict[str, FaultSettings] = {}  # settings() per account, until update()
        if config:
            self.update(config)

    def update(self, config: dict[str, Any]) -> None:
        """Apply `{seed?, global?: {...}, accounts?: {name: {...} | null}}` (partial, validated first)."""
        unknown = set(config) - {"seed", "global", "accounts"}
        if unknown:
            raise ValueError(f"unknown fault section(s): {', '.join(sorted(unknown))}")
        global_part = check_settings(config.get("global") or {})
        accounts = config.get("accounts") or {}
        if not isinstance(accounts, dict):
            raise ValueError("accounts must be an object")
        checked = {name: None if v is None else check_settings(v) for name, v in accounts.items()}
        seed = config.get("seed", self.seed)
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise ValueError("seed must be an integer")
        self.global_settings = replace(self.global_settings, **global_part)
        for name, values in checked.items():
            if values is None:
                self.overrides.pop(name, None)
            else:
                self.overrides[name] = {**self.overrides.get(name, {}), **values}
        if seed != self.seed:
            self.seed = seed
            self._randoms.clear()
        self._buckets.clear()
        self._effective.clear()

    def settings(self, account: str) -> FaultSettings:
        settings = self._effective.get(account)
        if settings is None:
            settings = replace(self.global_settings, **self.overrides.get(account, {}))
            self._effective[account] = settings
        return settings

    def snapshot(self, accounts: list[str]) -> dict[str, Any]:
        return {"seed": self.seed, "global": self.global_settings.as_dict(),
                "accounts": {k: {**v, **({"routes": list(v["routes"])} if "routes" in v else {})}
                             for k, v in self.overrides.items()},
                "effective": {name: self.settings(name).as_dict() for name in accounts}}

    def decide(self, account: str, method: str, route: str) -> Decision:
        s = self.settings(account)
        if s.quiet:  # the common case; draws nothing, so the random streams are unaffected
            return Decision(delay=s.latency_ms / 1000) if s.latency_ms else _NO_FAULT
        if s.rate_limit_rps is not None:
            wait = self._bucket(account).take(s.rate_limit_rps, s.rate_limit_burst)
            if wait > 0:
                return Decision(retry_after=max(1, math.ceil(wait)) if math.isfinite(wait) else 60)
        rng = self._random(account)
        delay = (s.latency_ms + (rng.uniform(0, s.jitter_ms) if s.jitter_ms else 0.0)) / 1000
        if not s.matches(f"{method} {route}"):
            return Decision(delay=delay)
        if s.error_rate and rng.random() < s.error_rate:
            return Decision(delay=delay, error_status=s.error_status)
        if s.timeout_rate and rng.random() < s.timeout_rate:
            return Decision(delay=delay, hold=s.timeout_seconds)
        if method in MUTATING and s.drop_rate and rng.random() < s.drop_rate:
            return Decision(delay=delay, drop=True)
        return Decision(delay=delay)

    def _bucket(self, account: str) -> _Bucket:
        bucket = self._buckets.get(account)
        if bucket is None:
            bucket = self._buckets[account] = _Bucket(self._clock)
        return bucket

    def _random(self, account: str) -> random.Random:
        rng = self._randoms.get(account)  # seeding a Random is costly: once per account and seed
        if rng is None:
            rng = self._randoms[account] = random.Random(f"{self.seed}:{account}")
        return rng


_NO_FAULT = Decision()
