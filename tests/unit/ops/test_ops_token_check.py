"""A refused Heartland token: the failure policy parks the order (failed, heartland_token_refused,
attempts not counted) however often it happens; the token checker's verdicts (readiness, gauge,
stored row, waking the waiting orders) on a fake client."""
from __future__ import annotations

from datetime import timedelta

import pytest

from mortard.heartland.token_check import TokenChecker
from mortard.heartland_contract.errors import HeartlandForbidden, HeartlandServerError, HeartlandUnauthorized
from mortard.ops.metrics import Metrics
from mortard.sync.actions import SetStatus
from mortard.sync.failures import FAILED, TOKEN, TOKEN_REFUSED, RetryPolicy, Settle, decide, failure_of
from mortard.sync.states import REASONS, SyncState


@pytest.mark.parametrize("exc", [HeartlandUnauthorized("wrong token", status=401),
                                 HeartlandForbidden("no permission", status=403)])
@pytest.mark.parametrize("attempts", [0, 11, 50])
def test_a_refused_token_parks_the_order_and_never_makes_it_dead(exc, attempts):
    f = failure_of(exc, SetStatus(7, "open"), "open")
    assert f.kind == TOKEN
    d = decide(f, quick_failures=1, attempts=attempts, policy=RetryPolicy(max_attempts=12), waited=timedelta(hours=9))
    assert isinstance(d, Settle) and d.state == FAILED and d.reason.code == TOKEN_REFUSED
    assert d.success is True                          # attempts start again: not the order's fault
    assert d.retry_in == timedelta(seconds=RetryPolicy().token_retry_s)
    assert REASONS[TOKEN_REFUSED].state == SyncState.FAILED


class FakeClient:
    def __init__(self) -> None:
        self.answer: Exception | None = None
        self.calls: list[tuple[str, object]] = []

    async def _get(self, path, params=None):
        self.calls.append((path, params))
        if self.answer is not None:
            raise self.answer
        return {"total": 3, "pages": 3, "results": [{"id": 1}]}


async def test_verdicts_drive_readiness_the_gauge_the_stored_row_and_the_wake():
    acme, globex = FakeClient(), FakeClient()
    recorded, woken = [], []
    metrics = Metrics()

    async def record(account, refused, status, detail):
        recorded.append((account, refused, status))

    async def wake(account):
        woken.append(account)

    checker = TokenChecker({"acme": acme, "globex": globex}, metrics=metrics, record=record, on_accepted=wake)
    gauge = metrics.heartland_account_refused
    acme.answer = HeartlandUnauthorized("missing or wrong bearer token", status=401)
    await checker.check_all()
    assert acme.calls == [("locations", [("page", "1"), ("per_page", "1")])]     # the documented count idiom
    assert not checker.accepted("acme") and checker.accepted("globex")
    assert gauge.labels(account="acme")._value.get() == 1 and gauge.labels(account="globex")._value.get() == 0
    assert sorted(recorded) == [("acme", True, 401), ("globex", False, 200)]
    assert woken == ["globex"]                       # first verdict after a start: wake what a past run left
    acme.answer = HeartlandServerError("503", status=503)                        # says nothing of the token
    assert await checker.check("acme") is None
    assert not checker.accepted("acme") and gauge.labels(account="acme")._value.get() == 1
    await checker.check("globex")
    assert woken == ["globex"]                       # accepted before, accepted now: nothing to wake
    acme.answer = None
    assert await checker.check("acme") is True
    assert checker.accepted("acme") and gauge.labels(account="acme")._value.get() == 0
    assert woken == ["globex", "acme"] and recorded[-1] == ("acme", False, 200)


async def test_a_failing_store_does_not_stop_the_verdict():
    client = FakeClient()
    client.answer = HeartlandForbidden("no", status=403)

    async def record(*a):
        raise OSError("Postgres away")

    checker = TokenChecker({"acme": client}, record=record)
    assert await checker.check("acme") is False and not checker.accepted("acme")
