"""What happens to an order when a Heartland call fails: a pure policy, applied by the machine.

`failure_of` turns the client's error (and the action in flight) into plain data; `decide` turns that,
with how often this run and this order have failed, into one of three things — re-read Heartland
and plan again (`Refresh`), wait a moment and try again in this run (`RetrySoon`), or end the run in
a state with a reason and perhaps a retry time (`Settle`) — the way arq's jobs declare `Retry`.
"""
from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from mortard.heartland_contract.errors import (
    HeartlandAmbiguous, HeartlandError, HeartlandForbidden, HeartlandPaymentError, HeartlandUnauthorized,
    HeartlandValidationError,
)
from mortard.sync.actions import Action, CompleteInvoice, Reason, SetStatus
from mortard.sync.plan import DEAD, FAILED, PENDING, WAITING_STOCK
from mortard.sync.reservations import draft_retry_delay

# What kind of failure: the outcome is unknown (ambiguous); Heartland said no to this request
# (refused); an error re-sending cannot fix (error); or one it may (transient).
AMBIGUOUS, REFUSED, ERROR, TRANSIENT = "ambiguous", "refused", "error", "transient"
# Heartland refused the account's token (401) or its permissions (403): the account's fault, not the
# order's. The order waits (`failed`, this reason, attempts not counted) and runs again when the token
# check (heartland/token_check.py) sees the account answer again, or after `token_retry_s`.
TOKEN = "token"
TOKEN_REFUSED = "heartland_token_refused"


@dataclass
class RetryPolicy:
    in_process: int = 3          # quick retries inside one run
    base_s: float = 0.2
    max_in_process_s: float = 2.0
    max_attempts: int = 12       # then the order is dead
    parked_base_s: float = 5.0
    parked_max_s: float = 900.0
    token_retry_s: float = 300.0   # a refused token: try again this late (sooner once the check passes)

    def park_delay(self, attempts: int, rng: Callable[[], float] = random.random) -> float:
        return min(self.parked_max_s, self.parked_base_s * 2 ** min(attempts, 12)) * (0.5 + rng())


@dataclass(frozen=True, slots=True)
class Failure:
    kind: str
    said: str                        # a sentence for staff ("Heartland said: …")
    error: str                       # the error as logged
    action: str | None = None        # kind of the mutation in flight, if any
    opening: bool = False            # it was setting the order open
    invoice_id: int | None = None    # it was completing this invoice
    retry_after: float | None = None


@dataclass(frozen=True, slots=True)
class Refresh:
    """Heartland may or may not hold the write: read it again before planning."""


@dataclass(frozen=True, slots=True)
class RetrySoon:
    delay_s: float


@dataclass(frozen=True, slots=True)
class Settle:
    state: str
    reason: Reason
    success: bool
    error: str | None = None
    retry_in: timedelta | None = None


Decision = Refresh | RetrySoon | Settle


def failure_of(exc: HeartlandError, sending: Action | None, open_status: str) -> Failure:
    """`sending`: the mutation in flight when it failed (None for a read); `open_status`: the
    dialect's spelling of "open"."""
    common = {"said": heartland_said(exc), "error": str(exc), "action": sending.kind if sending is not None else None}
    if isinstance(exc, HeartlandAmbiguous):
        return Failure(AMBIGUOUS, **common)
    if isinstance(exc, (HeartlandValidationError, HeartlandPaymentError)):
        validation = isinstance(exc, HeartlandValidationError)
        opening = validation and isinstance(sending, SetStatus) and sending.status == open_status
        invoice = sending.invoice_id if validation and isinstance(sending, CompleteInvoice) else None
        return Failure(REFUSED, opening=opening, invoice_id=invoice, **common)
    if isinstance(exc, (HeartlandUnauthorized, HeartlandForbidden)):
        return Failure(TOKEN, **common)
    if not exc.retryable:
        return Failure(ERROR, **common)
    return Failure(TRANSIENT, retry_after=getattr(exc, "retry_after", None), **common)


def decide(f: Failure, *, quick_failures: int, attempts: int, policy: RetryPolicy, waited: timedelta,
           rng: Callable[[], float] = random.random) -> Decision:
    """`quick_failures`: this run's failures so far, this one included; `attempts`: the order's
    earlier failed runs; `waited`: since the order's first event."""
    if f.kind == REFUSED:
        if f.invoice_id is not None:
            # Heartland has less stock than it showed when we routed (sold elsewhere meanwhile): rather
            # than oversell, the invoice stays open and is reused, completed by a later run once the
            # stock is back (or by staff).
            return Settle(WAITING_STOCK, Reason("invoice_refused", f"invoice {f.invoice_id} kept open, to be "
                                                f"completed when the stock is back; {f.said}"),
                          success=True, retry_in=draft_retry_delay(waited))
        if f.opening:
            return Settle(PENDING, Reason("heartland_refused_open", f.said), success=True)
        return Settle(DEAD, Reason("heartland_refused", f.said), success=False, error=f.error)
    if f.kind == TOKEN:
        return Settle(FAILED, Reason(TOKEN_REFUSED, "the Heartland account refused mortard's token or its "
                                     f"permissions; waiting for it to be fixed ({f.said})"),
                      success=True, error=f.error, retry_in=timedelta(seconds=policy.token_retry_s))
    if f.kind == ERROR:
        return Settle(DEAD, Reason("heartland_error", f.said), success=False, error=f.error)
    too_long = (f.retry_after or 0) > policy.max_in_process_s
    if quick_failures > policy.in_process or (f.kind == TRANSIENT and too_long):
        return park(f, attempts=attempts, policy=policy, rng=rng)
    if f.kind == AMBIGUOUS:
        return Refresh()
    return RetrySoon(min(policy.max_in_process_s,
                         f.retry_after or policy.base_s * 2 ** quick_failures * (0.5 + rng())))


def park(f: Failure | None, *, attempts: int, policy: RetryPolicy, rng: Callable[[], float] = random.random) -> Settle:
    """Give the order up for now (retry later, on a growing delay), or for good after max_attempts."""
    attempts += 1
    error = f.error if f is not None and f.kind != AMBIGUOUS else None
    if attempts >= policy.max_attempts:
        return Settle(DEAD, Reason("retries_exhausted", f"gave up after {attempts} attempts: {error}"),
                      success=False, error=error)
    delay = max((f.retry_after if f is not None else None) or 0, policy.park_delay(attempts, rng))
    return Settle(FAILED, Reason("heartland_unavailable", error or "repeated failures"), success=False,
                  error=error, retry_in=timedelta(seconds=delay))


def heartland_said(exc: HeartlandError) -> str:
    detail = "; ".join(f"{k}: {v}" for k, v in (exc.details or {}).items())
    return f"Heartland said: {exc.message or exc.code or exc}" + (f" ({detail})" if detail else "")
