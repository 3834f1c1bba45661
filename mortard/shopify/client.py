"""An asyncio client for Shopify's GraphQL Admin API: one per shop, one pinned API version.

Every call is a POST of one document to `/admin/api/{version}/graphql.json` with the shop's access
token in `X-Shopify-Access-Token`. Shopify meters calls by calculated query cost in a leaky bucket per
app and shop, and reports it in each answer's `extensions.cost` (`requestedQueryCost`,
`actualQueryCost`, `throttleStatus{maximumAvailable, currentlyAvailable, restoreRate}`). The client
keeps that bucket's estimate and waits, before sending, until the bucket holds what the query is
expected to cost — so in steady state Shopify never answers THROTTLED. When it still does (another
app shares nothing, but Shopify may lower limits), the client waits for the bucket to refill and
retries; 5xx and connection failures retry with jittered exponential backoff.
"""
from __future__ import annotations

import asyncio
import json
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import aiohttp
import structlog

from mortard.secret import Secret

from ._queries import operation_name
from .errors import ShopifyQueryError, ShopifyUnauthorized, ShopifyUnavailable

_log = structlog.get_logger(__name__)

# Shopify's published ceiling for one query; also the first guess of a query's cost before it is known.
MAX_QUERY_COST = 1000.0


@dataclass(frozen=True, slots=True)
class ShopifyShop:
    """One shop's Admin API access. `admin_url` "" = https://{domain}/admin/api/{api_version}/graphql.json."""

    domain: str
    token: Secret = field(repr=False)
    api_version: str = "2026-10"
    admin_url: str = ""
    request_timeout: float = 20.0

    @property
    def endpoint(self) -> str:
        if self.admin_url:
            base = self.admin_url.rstrip("/")
            return base if base.endswith(".json") else f"{base}/admin/api/{self.api_version}/graphql.json"
        return f"https://{self.domain}/admin/api/{self.api_version}/graphql.json"


@dataclass(frozen=True, slots=True)
class ShopifyRetry:
    attempts: int = 5
    base_delay: float = 0.5
    max_delay: float = 8.0
    max_throttle_wait: float = 60.0   # a refill longer than this is raised as ShopifyUnavailable


class ShopifyObserver(Protocol):
    def on_response(self, shop: str, operation: str, outcome: str, seconds: float) -> None: ...
    def on_cost(self, shop: str, actual_cost: float, available: float, maximum: float) -> None: ...
    def on_throttled(self, shop: str) -> None: ...


class NullShopifyObserver:
    def on_response(self, shop: str, operation: str, outcome: str, seconds: float) -> None:
        pass

    def on_cost(self, shop: str, actual_cost: float, available: float, maximum: float) -> None:
        pass

    def on_throttled(self, shop: str) -> None:
        pass


class CostBucket:
    """Shopify's leaky bucket as last reported, refilled by `restoreRate` per second since."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self.maximum: float | None = None
        self.available: float = 0.0
        self.restore_rate: float = 50.0
        self._at = clock()

    def update(self, status: Mapping[str, Any]) -> None:
        try:
            self.maximum = float(status["maximumAvailable"])
            self.available = float(status["currentlyAvailable"])
            self.restore_rate = max(0.1, float(status["restoreRate"]))
        except (KeyError, TypeError, ValueError):
            return
        self._at = self._clock()

    def now_available(self) -> float:
        if self.maximum is None:
            return float("inf")     # nothing known yet: the first call tells
        return min(self.maximum, self.available + (self._clock() - self._at) * self.restore_rate)

    def wait_for(self, cost: float) -> float:
        """Seconds until `cost` points are in the bucket (0 if they are)."""
        if self.maximum is None:
            return 0.0
        # A small margin: Shopify's figure is rounded and its clock is not ours.
        need = min(cost * 1.02 + 1.0, self.maximum) - self.now_available()
        return max(0.0, need / self.restore_rate)

    def take(self, cost: float) -> None:
        if self.maximum is not None:
            self.available = self.now_available() - cost
            self._at = self._clock()


class ShopifyClient:
    def __init__(self, shop: ShopifyShop, *, observer: ShopifyObserver | None = None,
                 session: aiohttp.ClientSession | None = None, retry: ShopifyRetry | None = None,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.shop = shop
        self.observer: ShopifyObserver = observer or NullShopifyObserver()
        self.retry = retry or ShopifyRetry()
        self.bucket = CostBucket(clock)
        self._session = session
        self._own_session = session is None
        self._sleep = sleep
        self._clock = clock
        self._lock = asyncio.Lock()
        self._costs: dict[str, float] = {}   # operation -> last requestedQueryCost
        self.calls = 0
        self.throttled = 0
        self.cost_used = 0.0

    async def close(self) -> None:
        if self._own_session and self._session is not None:
            await self._session.close()
            self._session = None

    async def __aenter__(self) -> ShopifyClient:
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.close()

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.shop.request_timeout))
        return self._session

    async def _admit(self, operation: str) -> None:
        """Wait until the bucket holds what this operation last cost, then book it."""
        cost = self._costs.get(operation, 0.0)
        async with self._lock:
            wait = self.bucket.wait_for(cost)
            if wait > 0:
                await self._sleep(wait)
            self.bucket.take(cost)

    async def execute(self, document: str, variables: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Send one document; its `data`. Raises the `errors` tree after retries."""
        operation = operation_name(document)
        body = json.dumps({"query": document, "operationName": operation, "variables": dict(variables or {})})
        headers = {"X-Shopify-Access-Token": self.shop.token.reveal(), "Content-Type": "application/json",
                   "Accept": "application/json"}
        delay = self.retry.base_delay
        last = "no attempt made"
        for attempt in range(1, self.retry.attempts + 1):
            await self._admit(operation)
            started = self._clock()
            self.calls += 1
            try:
                async with self._http().post(self.shop.endpoint, data=body, headers=headers) as resp:
                    status = resp.status
                    raw = await resp.read()
            except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as exc:
                self.observer.on_response(self.shop.domain, operation, "error", self._clock() - started)
                last = f"no answer ({type(exc).__name__})"
                await self._backoff(delay)
                delay = min(self.retry.max_delay, delay * 2)
                continue
            seconds = self._clock() - started
            if status in (401, 403):
                self.observer.on_response(self.shop.domain, operation, f"{status // 100}xx", seconds)
                raise ShopifyUnauthorized(f"HTTP {status}: the access token is refused or lacks a scope",
                                          shop=self.shop.domain, operation=operation, status=status)
            if status == 429 or status >= 500:
                self.observer.on_response(self.shop.domain, operation, f"{status // 100}xx", seconds)
                last = f"HTTP {status}"
                await self._backoff(delay)
                delay = min(self.retry.max_delay, delay * 2)
                continue
            try:
                answer = json.loads(raw)
            except ValueError:
                self.observer.on_response(self.shop.domain, operation, "bad_json", seconds)
                last = f"HTTP {status} with a body that is not JSON"
                await self._backoff(delay)
                delay = min(self.retry.max_delay, delay * 2)
                continue
            if not isinstance(answer, dict) or status >= 400:
                self.observer.on_response(self.shop.domain, operation, f"{status // 100}xx", seconds)
                raise ShopifyQueryError(f"HTTP {status}: {str(answer)[:300]}", shop=self.shop.domain,
                                        operation=operation, status=status)
            throttled = self._account(operation, answer)
            if throttled:
                self.throttled += 1
                self.observer.on_throttled(self.shop.domain)
                self.observer.on_response(self.shop.domain, operation, "throttled", seconds)
                wait = self.bucket.wait_for(self._costs.get(operation, MAX_QUERY_COST))
                last = "THROTTLED"
                if wait > self.retry.max_throttle_wait:
                    last = f"THROTTLED, and the bucket refills only in {wait:.0f} s"
                    break
                await self._sleep(max(wait, 0.05))
                continue
            errors = answer.get("errors")
            if errors:
                self.observer.on_response(self.shop.domain, operation, "graphql_error", seconds)
                raise ShopifyQueryError(_error_text(errors), shop=self.shop.domain, operation=operation,
                                        status=status)
            self.observer.on_response(self.shop.domain, operation, "ok", seconds)
            data = answer.get("data")
            return data if isinstance(data, dict) else {}
        raise ShopifyUnavailable(f"gave up after {self.retry.attempts} attempts: {last}",
                                 shop=self.shop.domain, operation=operation)

    def _account(self, operation: str, answer: Mapping[str, Any]) -> bool:
        """Book the reported cost and bucket; whether the answer is THROTTLED."""
        ext = answer.get("extensions") if isinstance(answer.get("extensions"), Mapping) else {}
        cost = ext.get("cost") if isinstance(ext.get("cost"), Mapping) else {}
        status = cost.get("throttleStatus")
        if isinstance(status, Mapping):
            self.bucket.update(status)
        requested = cost.get("requestedQueryCost")
        if isinstance(requested, (int, float)):
            self._costs[operation] = float(requested)
        actual = cost.get("actualQueryCost")
        if isinstance(actual, (int, float)):
            self.cost_used += float(actual)
            self.observer.on_cost(self.shop.domain, float(actual), self.bucket.available,
                                  self.bucket.maximum or 0.0)
        errors = answer.get("errors")
        return isinstance(errors, list) and any(
            isinstance(e, Mapping) and isinstance(e.get("extensions"), Mapping)
            and e["extensions"].get("code") == "THROTTLED" for e in errors)

    async def _backoff(self, delay: float) -> None:
        await self._sleep(delay * (0.5 + random.random()))


def _error_text(errors: Any) -> str:
    if isinstance(errors, list):
        parts = [str(e.get("message")) if isinstance(e, Mapping) else str(e) for e in errors[:3]]
        return "; ".join(parts)[:500]
    return str(errors)[:500]


__all__ = ["CostBucket", "MAX_QUERY_COST", "NullShopifyObserver", "ShopifyClient", "ShopifyObserver",
           "ShopifyRetry", "ShopifyShop"]
