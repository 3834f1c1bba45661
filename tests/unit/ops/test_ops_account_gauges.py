"""The daemon's per-account gauges: each account's concurrency limit and breaker state, with the
labelled children looked up once, not at every 5 s pass (hundreds of accounts)."""
from __future__ import annotations

from types import SimpleNamespace

from mortard.app import Daemon
from mortard.heartland import AccountLimits, FakeClock
from mortard.heartland.outcome import Outcome
from mortard.ops.metrics import Metrics


def _value(metrics: Metrics, name: str, account: str) -> float | None:
    return metrics.registry.get_sample_value(name, {"account": account})


def test_account_gauges_follow_the_limits_and_look_their_children_up_once(monkeypatch) -> None:
    clock = FakeClock()
    limits = {name: AccountLimits(name, initial_concurrency=3, max_concurrency=8, breaker_threshold=1, clock=clock)
              for name in ("a", "b")}
    daemon = Daemon(config=None)  # type: ignore[arg-type]  # only the metrics and clients are used
    daemon.clients = {name: SimpleNamespace(limits=lim) for name, lim in limits.items()}  # type: ignore[misc]
    looked_up = []
    for gauge in (daemon.metrics.account_concurrency_limit, daemon.metrics.account_breaker_open):
        real = gauge.labels
        monkeypatch.setattr(gauge, "labels", lambda *a, real=real, **kw: looked_up.append(kw) or real(*a, **kw))

    daemon.set_account_gauges()
    assert _value(daemon.metrics, "mortard_account_concurrency_limit", "a") == 3
    assert _value(daemon.metrics, "mortard_account_breaker_open", "b") == 0

    limits["a"].concurrency.limit = 5
    limits["b"].breaker.record(Outcome.FAILURE)   # threshold 1: open
    daemon.set_account_gauges()
    assert _value(daemon.metrics, "mortard_account_concurrency_limit", "a") == 5
    assert _value(daemon.metrics, "mortard_account_breaker_open", "b") == 1
    assert len(looked_up) == 4   # two gauges × two accounts, once
