"""An asyncio client for the subset of Heartland Retail's REST API that mortard uses.

See docs/heartland-contract.md. One `HeartlandClient` per account: it owns (or borrows) one aiohttp
session, sends every request through the account's `AccountLimits`, and turns failures into the
`errors` tree. All HTTP goes through `_send`, the transport seam.

Reads retry briefly on their own (429 within a cap, 5xx, timeouts, connection errors). Mutations are
never re-sent unless the request provably never left (connection refused); when their outcome is
unknown they raise `HeartlandAmbiguous` and the caller must look before re-sending.
"""
from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from decimal import Decimal
from email.utils import parsedate_to_datetime
from typing import Any, Protocol, TypeVar
from urllib.parse import urlsplit

import aiohttp
import structlog
from multidict import CIMultiDict, CIMultiDictProxy

from . import _json
from ._filter import F, Filter
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
from .limits import AccountLimits, Clock, MonotonicClock, Outcome
from mortard.secret import Secret

__all__ = [
    "HeartlandAccount",
    "HeartlandClient",
    "HeartlandObserver",
    "NullObserver",
    "RetryPolicy",
    "Secret",
]

_log = structlog.get_logger(__name__)

Json = dict[str, Any]
Params = Mapping[str, Any] | Sequence[tuple[str, Any]]
_T = TypeVar("_T")
_CHUNK = 100  # ids per `$in` filter


# ---------------------------------------------------------------------------------------- account
@dataclass(frozen=True, slots=True)
class HeartlandAccount:
    """One Heartland Retail account (subdomain) and its limits. `token` may be given as a str."""

    name: str
    token: Secret = field(repr=False)
    base_url: str = ""  # default https://{name}.retail.heartland.us/api/
    rate_per_second: float = 5.0
    burst: int = 10
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


@dataclass(frozen=True, slots=True)
class _Response:
    status: int
    headers: CIMultiDictProxy[str] | CIMultiDict[str]
    body: bytes


_JSON_BODY = {"Content-Type": "application/json"}


# ---------------------------------------------------------------------------------------- client
class HeartlandClient:
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

    async def __aenter__(self) -> HeartlandClient:
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

    # ------------------------------------------------------------------------------ setup lookups
    async def list_locations(self) -> list[Json]:
        return await self._all("locations", [("_include[]", "stations")])

    async def list_payment_types(self, name: str | None = None) -> list[Json]:
        return await self._all("payment_types", _filters(F.eq("name", name)) if name is not None else None)

    async def create_payment_type(self, name: str) -> int:
        return await self._create("payment_types", {"name": name})

    async def list_custom_fields(self, group_id: str | None = None, required: bool | None = None) -> list[Json]:
        terms = []
        if group_id is not None:
            terms.append(F.eq("group_id", group_id))
        if required is not None:
            terms.append(F.eq("required", required))
        return await self._all("custom_fields", _filters(*terms))

    # ------------------------------------------------------------------------------ items, stock
    async def find_items(self, public_ids: Iterable[str]) -> list[Json]:
        """Items whose `public_id` is in `public_ids` (batched `$in`, 100 per request)."""
        return await self._find_in("items", "public_id", public_ids)

    async def find_items_by_custom(self, key: str, values: Iterable[str]) -> list[Json]:
        return await self._find_in("items", F.custom(key), values)

    async def get_item(self, item_id: int) -> Json:
        return await self._get(f"items/{item_id}")

    async def inventory_values(
        self, item_ids: Iterable[int], location_ids: Iterable[int] | None = None
    ) -> list[Json]:
        """Rows `{item_id, location_id, qty_on_hand, qty_committed, qty_available}`."""
        locations = F.in_("location_id", _unique(location_ids)) if location_ids is not None else None
        rows: list[Json] = []
        for chunk in _chunks(_unique(item_ids), _CHUNK):
            terms = [F.in_("item_id", chunk)] + ([locations] if locations else [])
            params = [("group[]", "item_id"), ("group[]", "location_id"), *_filters(*terms)]
            rows.extend(await self._all("inventory/values", params, per_page="all"))
        return rows

    async def _find_in(self, path: str, field_name: str, values: Iterable[Any]) -> list[Json]:
        found: list[Json] = []
        for chunk in _chunks(_unique(values), _CHUNK):
            found.extend(await self._all(path, _filters(F.in_(field_name, chunk))))
        return found

    # ------------------------------------------------------------------------------ customers
    async def find_customers(self, email: str | None = None, phone: str | None = None) -> list[Json]:
        terms = [F.eq(k, v) for k, v in (("email", email), ("phone", phone)) if v is not None]
        if not terms:
            raise ValueError("find_customers needs an email or a phone")
        return await self._all("customers", _filters(*terms))

    async def find_customers_in(self, field_name: str, values: Iterable[str]) -> list[Json]:
        """Customers whose `field_name` (email or phone) is any of `values`: one `$in` read."""
        if field_name not in ("email", "phone"):
            raise ValueError("find_customers_in takes email or phone")
        return await self._find_in("customers", field_name, values)

    async def create_customer(self, fields: Json) -> int:
        return await self._create("customers", fields)

    async def add_customer_address(self, customer_id: int, fields: Json) -> int:
        return await self._create(f"customers/{customer_id}/addresses", fields)

    async def list_customer_addresses(self, customer_id: int) -> list[Json]:
        return await self._all(f"customers/{customer_id}/addresses")

    # ------------------------------------------------------------------------------ sales orders
    async def create_order(self, fields: Json) -> int:
        """POST /sales/orders; `status` defaults to the dialect's pending."""
        return await self._create("sales/orders", {"status": self.dialect.status_pending, **fields})

    async def get_order(self, order_id: int) -> Json:
        return await self._get(f"sales/orders/{order_id}")

    async def find_orders(self, public_id: str) -> list[Json]:
        return await self._all("sales/orders", _filters(F.eq("public_id", public_id)))

    async def update_order(self, order_id: int, fields: Json) -> Json:
        return await self._put(f"sales/orders/{order_id}", fields)

    async def set_order_status(self, order_id: int, status: str) -> Json:
        return await self.update_order(order_id, {"status": status})

    async def list_order_lines(self, order_id: int) -> list[Json]:
        return await self._all(f"sales/orders/{order_id}/lines")

    async def add_order_line(self, order_id: int, fields: Json) -> int:
        return await self._create(f"sales/orders/{order_id}/lines", fields)

    async def update_order_line(self, order_id: int, line_id: int, fields: Json) -> Json:
        return await self._put(f"sales/orders/{order_id}/lines/{line_id}", fields)

    async def delete_order_line(self, order_id: int, line_id: int) -> None:
        """DELETE the line; where the dialect says deletes are unsupported, set its qty to 0."""
        if self.dialect.line_delete_supported:
            await self._delete(f"sales/orders/{order_id}/lines/{line_id}")
        else:
            await self.update_order_line(order_id, line_id, {"qty": 0})

    async def add_order_tax(self, order_id: int, description: str, value: Decimal) -> int:
        return await self._create(f"sales/orders/{order_id}/taxes", {"description": description, "value": value})

    async def list_order_taxes(self, order_id: int) -> list[Json]:
        return await self._all(f"sales/orders/{order_id}/taxes")

    async def add_order_discount(self, order_id: int, description: str, amount: Decimal) -> int:
        body = {"description": description, "amount": amount}
        return await self._create(f"sales/orders/{order_id}/discounts", body)

    async def add_order_payment(self, order_id: int, amount: Decimal, payment_type_id: int,
                                custom: Json | None = None) -> int:
        """A deposit on the order; a negative `amount` is a refund."""
        body: Json = {"type": self.dialect.order_payment_type, "deposit": True,
                      "amount": amount, "payment_type_id": payment_type_id}
        if custom:
            body["custom"] = custom
        return await self._create(f"sales/orders/{order_id}/payments", body)

    async def list_order_payments(self, order_id: int) -> list[Json]:
        return await self._all(f"sales/orders/{order_id}/payments")

    # ------------------------------------------------------------------------------ invoices
    async def create_invoice(self, order_id: int, customer_id: int, location_id: int, station_id: int) -> int:
        body = {"order_id": order_id, "customer_id": customer_id,
                self.dialect.invoice_location_field: location_id, "station_id": station_id}
        return await self._create("sales/invoices", body)

    async def add_invoice_line(self, invoice_id: int, item_id: int, qty: int, order_line_id: int | None) -> int:
        body: Json = {"type": "ItemLine", "item_id": item_id, "qty": qty}
        link = self.dialect.invoice_line_order_line_field
        if link is not None and order_line_id is not None:
            body[link] = order_line_id
        return await self._create(f"sales/invoices/{invoice_id}/lines", body)

    async def complete_invoice(self, invoice_id: int) -> Json:
        return await self._put(f"sales/invoices/{invoice_id}", {"status": self.dialect.invoice_status_complete})

    async def list_invoices(self, order_id: int) -> list[Json]:
        """The order's invoices; with `Dialect.include_lines` each carries its `lines`, otherwise
        read them with `list_invoice_lines` (the documented way)."""
        params = [*(_INCLUDE_LINES if self.dialect.include_lines else ()), *_filters(F.eq("order_id", order_id))]
        return await self._all("sales/invoices", params)

    async def list_invoice_lines(self, invoice_id: int) -> list[Json]:
        return await self._all(f"sales/invoices/{invoice_id}/lines")

    # ------------------------------------------------------------------------------ tickets
    async def create_ticket(self, fields: Json) -> int:
        return await self._create("sales/tickets", fields)

    async def find_tickets(self, public_id: str) -> list[Json]:
        return await self._all("sales/tickets", _filters(F.eq("public_id", public_id)))


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
