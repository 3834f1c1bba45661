"""The failure policy as plain data: (failure, failures so far, attempts) → what the machine does."""
from __future__ import annotations

from datetime import timedelta

import pytest

from mortard.heartland_contract.errors import (
    HeartlandAmbiguous, HeartlandNotFound, HeartlandPaymentError, HeartlandRateLimited, HeartlandServerError,
    HeartlandValidationError,
)
from mortard.sync.actions import AddLine, CompleteInvoice, SetStatus
from mortard.sync.failures import (
    AMBIGUOUS, ERROR, REFUSED, TRANSIENT, Failure, Refresh, RetryPolicy, RetrySoon, Settle, decide, failure_of,
)

POLICY = RetryPolicy(in_process=3, base_s=0.2, max_in_process_s=2.0, max_attempts=12)
WAITED = timedelta(minutes=5)


def fixed(x: float = 0.5):
    return lambda: x


def of(kind: str, **kw) -> Failure:
    return Failure(kind, said="Heartland said: no", error="boom", **kw)


@pytest.mark.parametrize("exc, sending, kind", [
    (HeartlandAmbiguous("reset"), AddLine(1, 2, 3, 1, 1, 1, None), AMBIGUOUS),
    (HeartlandValidationError("bad", details={"qty": ["too many"]}), None, REFUSED),
    (HeartlandPaymentError("unbalanced"), None, REFUSED),
    (HeartlandNotFound("gone"), None, ERROR),
    (HeartlandServerError("503"), None, TRANSIENT),
    (HeartlandRateLimited("slow down", retry_after=7.0), None, TRANSIENT),
])
def test_errors_become_failures_of_one_kind(exc, sending, kind):
    f = failure_of(exc, sending, "open")
    assert f.kind == kind and f.action == (sending.kind if sending else None)


def test_a_refused_open_leaves_the_order_pending_with_what_heartland_said():
    f = failure_of(HeartlandValidationError("cannot open", details={"total": ["unbalanced"]}), SetStatus(5, "open"), "open")
    d = decide(f, quick_failures=1, attempts=0, policy=POLICY, waited=WAITED)
    assert d == Settle("pending", d.reason, success=True) and d.reason.code == "heartland_refused_open"
    assert "total: ['unbalanced']" in d.reason.message


def test_a_refused_cancel_is_not_a_refused_open():
    f = failure_of(HeartlandValidationError("no"), SetStatus(5, "canceled"), "open")
    assert not f.opening and decide(f, quick_failures=1, attempts=0, policy=POLICY, waited=WAITED).state == "dead"


def test_a_refused_invoice_completion_keeps_the_invoice_and_retries_later():
    f = failure_of(HeartlandValidationError("not enough stock"), CompleteInvoice(44), "open")
    d = decide(f, quick_failures=1, attempts=0, policy=POLICY, waited=WAITED)
    assert isinstance(d, Settle) and d.state == "waiting_stock" and d.success
    assert d.reason.code == "invoice_refused" and "invoice 44" in d.reason.message
    assert d.retry_in == timedelta(seconds=30)   # a tenth of the five minutes waited


def test_other_refusals_and_errors_need_a_person():
    assert decide(of(REFUSED), quick_failures=1, attempts=0, policy=POLICY, waited=WAITED).state == "dead"
    d = decide(of(ERROR), quick_failures=1, attempts=0, policy=POLICY, waited=WAITED)
    assert d.state == "dead" and d.reason.code == "heartland_error" and not d.success


def test_an_ambiguous_write_is_re_read_until_the_run_has_failed_too_often():
    assert decide(of(AMBIGUOUS), quick_failures=3, attempts=0, policy=POLICY, waited=WAITED) == Refresh()
    d = decide(of(AMBIGUOUS), quick_failures=4, attempts=0, policy=POLICY, waited=WAITED, rng=fixed())
    assert d.state == "failed" and d.reason.message == "repeated failures" and d.retry_in == timedelta(seconds=10)


def test_transient_failures_back_off_in_process_then_park_on_a_growing_delay():
    delays = [decide(of(TRANSIENT), quick_failures=q, attempts=0, policy=POLICY, waited=WAITED, rng=fixed()).delay_s
              for q in (1, 2, 3)]
    assert delays == [0.4, 0.8, 1.6]
    parked = [decide(of(TRANSIENT), quick_failures=4, attempts=a, policy=POLICY, waited=WAITED, rng=fixed()).retry_in
              for a in (0, 1, 2)]
    assert parked == [timedelta(seconds=10), timedelta(seconds=20), timedelta(seconds=40)]


def test_a_long_retry_after_parks_at_once_for_at_least_that_long():
    d = decide(of(TRANSIENT, retry_after=60.0), quick_failures=1, attempts=0, policy=POLICY, waited=WAITED, rng=fixed())
    assert isinstance(d, Settle) and d.state == "failed" and d.retry_in == timedelta(seconds=60)
    short = decide(of(TRANSIENT, retry_after=1.5), quick_failures=1, attempts=0, policy=POLICY, waited=WAITED)
    assert short == RetrySoon(1.5)


def test_the_last_attempt_makes_the_order_dead():
    d = decide(of(TRANSIENT), quick_failures=4, attempts=11, policy=POLICY, waited=WAITED)
    assert d.state == "dead" and d.reason.code == "retries_exhausted" and "12 attempts" in d.reason.message
