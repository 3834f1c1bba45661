"""The Heartland client's transport: one aiohttp session per account, every request through the
account's `AccountLimits`, retries for reads, and failures turned into the `errors` tree. All HTTP
goes through `HeartlandTransport._send`, the seam. The endpoints are `client.HeartlandClient`'s.

Reads retry briefly on their own (429 within a cap, 5xx, timeouts, connection errors). Mutations are
never re-sent unless the request provably never left (connection refused); when their outcome is
unknown they raise `HeartlandAmbiguous` and the caller must look before re-sending.
"""
from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from decimal import Decimal
from email.utils import parsedate_to_datetime
from typing import Any, Self, TypeVar
from urllib.parse import urlsplit

import aiohttp
import structlog
from multidict import CIMultiDict, CIMultiDictProxy

from . import _json
from ._filter import Filter
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
from .limits import AccountLimits, Clock, MonotonicClock, Outcome
from .account import HeartlandAccount, HeartlandObserver, NullObserver, RetryPolicy

_log = structlog.get_logger(__name__)

Json = dict[str, Any]
Params = Mapping[str, Any] | Sequence[tuple[str, Any]]
_T = TypeVar("_T")


@dataclass(frozen=True, slots=True)
class _Response:
    status: int
    headers: CIMultiDictProxy[str] | CIMultiDict[str]
    body: bytes


_JSON_BODY = {"Content-Type": "application/json"}


class HeartlandTransport:
    """Requests to one account; `HeartlandClient` adds the endpoints."""

    def __init__(
        self,
        account: HeartlandAccount,
        *,
        dialect: Dialect = DEFAULT_DIALECT,
        limits: AccountLimits | None = None,
        session: aiohttp.ClientSession | None = None,
        clock: Clock | None = None,
        observer: HeartlandObserver | None = None,
        retry: RetryPolicy | None = None,
        rng: Callable[[], float] = random.random,
    ) -> None:
        self.account = account
        self.dialect = dialect
        self.clock: Clock = clock or (limits.clock if limits else MonotonicClock())
        self.limits = limits or AccountLimits.for_account(account, clock=self.clock)
        self.observer: HeartlandObserver = observer or NullObserver()
        self.retry = retry or RetryPolicy()
        self._rng = rng
        self._session = session
        self._owns_session = session is None
        self._timeout = aiohttp.ClientTimeout(total=account.request_timeout)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        if self._owns_session and self._session is not None:
            await self._session.close()
            self._session = None

    # ------------------------------------------------------------------------------ transport seam
    async def _send(self, method: str, url: str, params: list[tuple[str, str]], body: bytes | None) -> _Response:
        """The only place that does HTTP."""
        if self._session is None:
            # Our own session carries the account's headers and timeout, and keeps no cookies (the API
            # authenticates by token): less work per request than passing them every time.
            self._session = aiohttp.ClientSession(headers=self._headers(), timeout=self._timeout,
                                                  cookie_jar=aiohttp.DummyCookieJar())
        _no_silent_resend(self._session)
        per_request: dict[str, Any] = {} if self._owns_session else {"headers": self._headers(), "timeout": self._timeout}
        if body is not None:
            per_request["headers"] = {**per_request.get("headers", {}), **_JSON_BODY}
        async with self._session.request(method, url, params=params or None, data=body, allow_redirects=False,
                                         **per_request) as resp:
            return _Response(resp.status, resp.headers, await resp.read())

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.account.token.reveal()}", "Accept": "application/json"}

    # ------------------------------------------------------------------------------ request core
    async def _request(
        self, method: str, path: str, *, params: Params | None = None, body: Any = None
    ) -> _Response:
        url = self.account.base_url + path.lstrip("/")
        query = _query(params)
        data = None if body is None else _json.dumps(body).encode()
        started = self.clock.now()
        attempt = 0
        while True:
            attempt += 1
            try:
                return await self._attempt(method, path, url, query, data, attempt)
            except HeartlandError as exc:
                delay = self._retry_delay(exc, method, attempt, started)
                if delay is None:
                    raise
                _log.info("heartland_retry", account=self.account.name, method=method, path=path,
                          attempt=attempt, heartland_status=exc.status, delay=round(delay, 3))
                await self.clock.sleep(delay)

    async def _attempt(self, method: str, path: str, url: str, query: list[tuple[str, str]],
                       data: bytes | None, attempt: int) -> _Response:
        try:
            return await self._attempt_in_slot(method, path, url, query, data, attempt)
        except HeartlandUnavailable as exc:
            if exc.method is None:  # refused by the breaker: say which call
                exc.method, exc.path = method, path
            raise

    async def _attempt_in_slot(self, method: str, path: str, url: str, query: list[tuple[str, str]],
                               data: bytes | None, attempt: int) -> _Response:
        name = self.account.name
        where = {"account": name, "method": method, "path": path}
        async with self.limits.slot() as permit:
            t0 = self.clock.now()
            try:
                resp = await self._send(method, url, query, data)
            except (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError) as exc:
                permit.outcome = Outcome.FAILURE
                self._observe(method, None, t0)
                _log.warning("heartland_unreachable", **where, attempt=attempt, error=type(exc).__name__)
                raise HeartlandUnavailable(f"not sent: {type(exc).__name__}", **where) from exc
            except (asyncio.TimeoutError, aiohttp.ClientError) as exc:
                permit.outcome = Outcome.FAILURE
                self._observe(method, None, t0)
                why = "timeout" if isinstance(exc, asyncio.TimeoutError) else type(exc).__name__
                if method == "GET":
                    _log.warning("heartland_read_failed", **where, attempt=attempt, error=why)
                    raise HeartlandUnavailable(f"read failed: {why}", **where) from exc
                _log.warning("heartland_ambiguous", **where, attempt=attempt, error=why)
                raise HeartlandAmbiguous(f"outcome unknown after {why}", **where) from exc
            status = resp.status
            permit.outcome = (
                Outcome.OVERLOAD if status == 429 else Outcome.FAILURE if status >= 500 else Outcome.SUCCESS
            )
            seconds = self._observe(method, status, t0)
            _log.debug("heartland_request", **where, heartland_status=status,
                       seconds=round(seconds, 4), attempt=attempt)
            if status < 400:
                return resp
            error = self._error(method, path, resp)
            if isinstance(error, HeartlandRateLimited):
                self.limits.pause(error.retry_after)
                self.observer.on_rate_limited(name)
                _log.warning("heartland_rate_limited", **where, heartland_status=status,
                             retry_after=error.retry_after)
            elif isinstance(error, HeartlandAmbiguous):
                _log.warning("heartland_ambiguous", **where, heartland_status=status, attempt=attempt)
            raise error

    def _observe(self, method: str, status: int | None, t0: float) -> float:
        seconds = max(0.0, self.clock.now() - t0)
        self.observer.on_response(self.account.name, method, status, seconds)
        return seconds

    def _retry_delay(self, exc: HeartlandError, method: str, attempt: int, started: float) -> float | None:
        """Seconds to wait before the next attempt, or None to give up."""
        policy = self.retry
        if attempt >= policy.attempts:
            return None
        elapsed = self.clock.now() - started
        if isinstance(exc, HeartlandUnavailable):
            if exc.retry_after is not None:
                return None  # breaker open: retrying now can't help
        elif method != "GET":
            return None  # the mutation may have happened
        elif isinstance(exc, HeartlandRateLimited):
            if exc.retry_after > policy.max_retry_after or elapsed + exc.retry_after > policy.budget:
                return None
            return 0.0  # the account pause does the waiting
        elif not isinstance(exc, HeartlandServerError):
            return None
        ceiling = min(policy.max_delay, policy.base_delay * 2 ** (attempt - 1))
        delay = ceiling / 2 + self._rng() * ceiling / 2  # "equal jitter"
        return None if elapsed + delay > policy.budget else delay

    def _error(self, method: str, path: str, resp: _Response) -> HeartlandError:
        payload = _error_payload(resp.body)
        status = resp.status
        code = payload.get("error") if isinstance(payload.get("error"), str) else None
        message = payload.get("message") if isinstance(payload.get("message"), str) else None
        details = payload.get("details") if isinstance(payload.get("details"), dict) else None
        kw: dict[str, Any] = dict(account=self.account.name, method=method, path=path, status=status,
                                  code=code, details=details)
        if status == 429:
            return HeartlandRateLimited(message, retry_after=self._retry_after(resp), **kw)
        if status >= 500:
            cls = HeartlandServerError if method == "GET" else HeartlandAmbiguous
            return cls(message, **kw)
        if code == "payment_error":
            return HeartlandPaymentError(message, **kw)
        if code == "validation_error" or status in (400, 422, self.dialect.validation_http_status):
            return HeartlandValidationError(message, **kw)
        by_status = {401: HeartlandUnauthorized, 403: HeartlandForbidden, 404: HeartlandNotFound}
        return by_status.get(status, HeartlandError)(message, **kw)

    def _retry_after(self, resp: _Response) -> float:
        value = resp.headers.get("Retry-After", "").strip()
        if not value:
            return self.retry.default_retry_after
        try:
            return max(0.0, float(value))
        except ValueError:
            pass
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return self.retry.default_retry_after
        if when.tzinfo is None:
            when = when.replace(tzinfo=timezone.utc)
        return max(0.0, (when - datetime.now(timezone.utc)).total_seconds())

    # ------------------------------------------------------------------------------ verbs
    async def _get(self, path: str, params: Params | None = None) -> Any:
        resp = await self._request("GET", path, params=params)
        return _json.loads(resp.body) if resp.body.strip() else None

    async def _create(self, path: str, body: Json) -> int:
        """POST a new resource; its id comes from the `Location` header (the body may be empty)."""
        resp = await self._request("POST", path, body=body)
        new_id = _id_from_location(resp.headers.get("Location"))
        if new_id is None and resp.body.strip():
            payload = _json.loads(resp.body)
            if isinstance(payload, dict) and isinstance(payload.get("id"), int):
                new_id = payload["id"]
        if new_id is None:
            raise HeartlandAmbiguous(
                "created, but no id in the Location header", account=self.account.name,
                method="POST", path=path, status=resp.status,
            )
        return new_id

    async def _put(self, path: str, body: Json) -> Json:
        resp = await self._request("PUT", path, body=body)
        return _json.loads(resp.body) if resp.body.strip() else {}

    async def _delete(self, path: str) -> None:
        await self._request("DELETE", path)

    # ------------------------------------------------------------------------------ collections
    async def paginate(self, path: str, params: Params | None = None, *,
                       per_page: int | str | None = None) -> AsyncIterator[Json]:
        """Yield each `{total, pages, results}` page of a collection, page 1 first."""
        base = _query(params)
        size = str(per_page if per_page is not None else self.dialect.per_page)
        page = 1
        while True:
            body = await self._get(path, base + [("page", str(page)), ("per_page", size)])
            if not isinstance(body, dict):
                body = {"total": 0, "pages": 0, "results": []}
            yield body
            pages = body.get("pages") or 0
            if page >= pages or not body.get("results"):
                return
            page += 1

    async def _all(
        self, path: str, params: Params | None = None, *, per_page: int | str | None = None
    ) -> list[Json]:
        results: list[Json] = []
        async for page in self.paginate(path, params, per_page=per_page):
            results.extend(page.get("results") or [])
        return results


# ---------------------------------------------------------------------------------------- helpers
_INCLUDE_LINES = (("_include[]", "lines"),)


def _no_silent_resend(session: aiohttp.ClientSession) -> None:
    """aiohttp re-sends a PUT or DELETE by itself when a reused connection drops before the answer
    (RFC 9112 allows it for idempotent methods). Heartland's are not safe to repeat: a `PUT status`
    or `PUT qty` that was applied is refused the second time, and mortard would take that refusal for
    the answer. A dropped write must surface as ambiguous, so recovery reads Heartland instead."""
    if not hasattr(session, "_retry_connection"):
        raise RuntimeError("this aiohttp has no switch for its automatic re-send of PUT/DELETE; "
                           "mortard can't run on it safely")
    session._retry_connection = False


def _filters(*terms: Filter | None) -> list[tuple[str, str]]:
    present = [t for t in terms if t is not None]
    if not present:
        return []
    combined = present[0]
    for term in present[1:]:
        combined = combined & term
    return [("_filter", combined.to_json())]


def _query(params: Params | None) -> list[tuple[str, str]]:
    items = params.items() if isinstance(params, Mapping) else (params or ())
    out: list[tuple[str, str]] = []
    for key, value in items:
        for v in value if isinstance(value, (list, tuple)) else (value,):
            if v is not None:
                out.append((key, _param(v)))
    return out


def _param(value: Any) -> str:
    if isinstance(value, Filter):
        return value.to_json()
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, Decimal)):
        return _json.dumps(value)
    return str(value)


def _id_from_location(location: str | None) -> int | None:
    if not location:
        return None
    last = urlsplit(location).path.rstrip("/").rsplit("/", 1)[-1]
    return int(last) if last.isdigit() else None


def _error_payload(body: bytes) -> Json:
    if not body.strip():
        return {}
    try:
        payload = _json.loads(body)
    except ValueError:
        return {"message": body[:200].decode("utf-8", "replace")}
    return payload if isinstance(payload, dict) else {}


def _unique(values: Iterable[_T] | None) -> list[_T]:
    return list(dict.fromkeys(values or ()))


def _chunks(values: list[_T], size: int) -> Iterable[list[_T]]:
    for i in range(0, len(values), size):
        yield values[i : i + size]
