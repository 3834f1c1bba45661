"""How a Heartland call can end badly: the exception tree the client raises and the core's failure
policy (`sync/failures.py`) classifies.

Every error carries the facts a person needs: which account, which call (method and path, never the
base URL's credentials or the token), the HTTP status and what Heartland said (`code` = the body's
`error`, `message`, `details`). `retryable` says whether re-sending the *same* request is safe and
may succeed later.

    HeartlandError
    ├── HeartlandValidationError   400/422 validation_error (details keyed by field)
    ├── HeartlandPaymentError      payment_error
    ├── HeartlandNotFound          404
    ├── HeartlandUnauthorized      401
    ├── HeartlandForbidden         403 (missing permission / scope)
    ├── HeartlandRateLimited       429 (retry_after seconds)           retryable
    ├── HeartlandServerError       5xx on a read, after retries        retryable
    ├── HeartlandUnavailable       nothing was sent (connect failure,  retryable
    │                              breaker open)
    └── HeartlandAmbiguous         a mutation may or may not have happened (timeout/reset after
                                   send, 5xx on POST/PUT/DELETE, 201 without a usable Location):
                                   look Heartland up before sending it again. retryable = False.
"""
from __future__ import annotations

from typing import Any, ClassVar

__all__ = [
    "HeartlandAmbiguous",
    "HeartlandError",
    "HeartlandForbidden",
    "HeartlandNotFound",
    "HeartlandPaymentError",
    "HeartlandRateLimited",
    "HeartlandServerError",
    "HeartlandUnauthorized",
    "HeartlandUnavailable",
    "HeartlandValidationError",
]


class HeartlandError(Exception):
    """Base of every error the Heartland client raises."""

    retryable: ClassVar[bool] = False

    def __init__(
        self,
        message: str | None = None,
        *,
        account: str | None = None,
        method: str | None = None,
        path: str | None = None,
        status: int | None = None,
        code: str | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        self.account = account
        self.method = method
        self.path = path
        self.status = status
        self.code = code  # Heartland's `error` field, e.g. "validation_error"
        self.message = message  # Heartland's `message` (or ours, when there was no response)
        self.details: dict[str, Any] = dict(details or {})
        super().__init__(self._describe())

    def _describe(self) -> str:
        call = " ".join(p for p in (self.method, self.path) if p) or "heartland request"
        parts = [call]
        if self.status is not None:
            parts.append(f"-> {self.status}")
        if self.code:
            parts.append(self.code)
        text = " ".join(parts)
        if self.message:
            text += f": {self.message}"
        if self.details:
            text += f" {self.details}"
        if self.account:
            text += f" [account {self.account}]"
        return text

    def __str__(self) -> str:
        return self._describe()


class HeartlandValidationError(HeartlandError):
    """Heartland refused the request's content (`validation_error`, or a 400/422)."""


class HeartlandPaymentError(HeartlandError):
    """Heartland refused a payment (`payment_error`)."""


class HeartlandNotFound(HeartlandError):
    """404: the resource does not exist (in this account)."""


class HeartlandUnauthorized(HeartlandError):
    """401: the token is wrong, expired or missing."""


class HeartlandForbidden(HeartlandError):
    """403: the token's user lacks a permission (or the OAuth app a scope)."""


class HeartlandRateLimited(HeartlandError):
    """429: the account is throttled; wait `retry_after` seconds."""

    retryable = True

    def __init__(self, message: str | None = None, *, retry_after: float, **kw: Any) -> None:
        self.retry_after = float(retry_after)
        super().__init__(message, **kw)

    def _describe(self) -> str:
        return f"{super()._describe()} (retry after {self.retry_after:g}s)"


class HeartlandServerError(HeartlandError):
    """5xx on a read (retries exhausted). Nothing was changed; try again later."""

    retryable = True


class HeartlandUnavailable(HeartlandError):
    """The request was not sent (connection refused, breaker open): safe to retry."""

    retryable = True

    def __init__(self, message: str | None = None, *, retry_after: float | None = None, **kw: Any) -> None:
        self.retry_after = retry_after
        super().__init__(message, **kw)


class HeartlandAmbiguous(HeartlandError):
    """A mutation whose outcome is unknown: read Heartland before re-sending it."""

    retryable = False
