from __future__ import annotations

import pytest

from mortard.ops.metrics import ORDER_STATES, Metrics, status_class, topic_label

EXPECTED_NAMES = [
    "mortard_events_consumed_total",
    "mortard_events_dead_lettered_total",
    "mortard_inbox_write_seconds",
    "mortard_consumer_lag",
    "mortard_commit_age_seconds",
    "mortard_orders",
    "mortard_orders_completed_total",
    "mortard_orders_pending_reasons",
    "mortard_step_duration_seconds",
    "mortard_heartland_requests_total",
    "mortard_heartland_request_duration_seconds",
    "mortard_heartland_rate_limited_total",
    "mortard_account_concurrency_limit",
    "mortard_account_breaker_open",
    "mortard_inflight_orders",
    "mortard_event_loop_lag_seconds",
    "mortard_event_loop_lag_distribution_seconds",
    "mortard_build_info",
    "mortard_ingest_requests_total",
    "mortard_ingest_produce_seconds",
]


def test_render_declares_every_metric() -> None:
    text = Metrics().render().decode()
    for name in EXPECTED_NAMES:
        assert f"# TYPE {name} " in text, name
    assert 'mortard_build_info{python="' in text


def test_unknown_shopify_topics_are_counted_as_other() -> None:
    m = Metrics()
    m.event_consumed("orders/create")
    m.event_consumed("products/update")
    m.event_consumed(None)
    m.events_consumed_total.labels(topic="carts/update").inc()  # direct use is folded too
    m.ingest_request("shop/redact", "accepted")
    m.ingest_requests_total.labels("orders/paid", "accepted").inc()
    value = m.registry.get_sample_value
    assert value("mortard_events_consumed_total", {"topic": "orders/create"}) == 1
    assert value("mortard_events_consumed_total", {"topic": "other"}) == 3
    assert value("mortard_ingest_requests_total", {"topic": "other", "outcome": "accepted"}) == 1
    assert value("mortard_ingest_requests_total", {"topic": "orders/paid", "outcome": "accepted"}) == 1
    assert topic_label("refunds/create") == "refunds/create"
    text = m.render().decode()
    assert 'topic="products/update"' not in text and 'topic="carts/update"' not in text


@pytest.mark.parametrize(
    ("status", "expected"),
    [(200, "2xx"), (201, "2xx"), (304, "3xx"), (404, "4xx"), (429, "4xx"), (503, "5xx"), (0, "error"), (None, "error"), (-1, "error")],
)
def test_status_class(status: int | None, expected: str) -> None:
    assert status_class(status) == expected


def test_heartland_observer_records_requests_and_rate_limits() -> None:
    m = Metrics()
    obs = m.heartland_observer()
    obs.on_response("acme", "post", 201, 0.12)
    obs.on_response("acme", "GET", 0, 5.0)
    obs.on_response("acme", "GET", 429, 0.01)
    obs.on_response("acme", "GET", None, 1.0)
    obs.on_rate_limited("acme")
    value = m.registry.get_sample_value
    assert value("mortard_heartland_requests_total", {"account": "acme", "method": "POST", "status_class": "2xx"}) == 1
    assert value("mortard_heartland_requests_total", {"account": "acme", "method": "GET", "status_class": "error"}) == 2
    assert value("mortard_heartland_requests_total", {"account": "acme", "method": "GET", "status_class": "4xx"}) == 1
    assert value("mortard_heartland_rate_limited_total", {"account": "acme"}) == 1
    assert value("mortard_heartland_request_duration_seconds_count", {"account": "acme"}) == 4


def test_observer_satisfies_the_heartland_client_protocol() -> None:
    from mortard.heartland.client import HeartlandObserver  # here, so only this test depends on it

    observer: HeartlandObserver = Metrics().heartland_observer()
    for name in ("on_response", "on_rate_limited"):
        assert callable(getattr(observer, name))
        assert hasattr(HeartlandObserver, name)


def test_two_instances_do_not_clash() -> None:
    a, b = Metrics(), Metrics()
    a.inflight_orders.set(3)
    b.inflight_orders.set(7)
    assert a.registry.get_sample_value("mortard_inflight_orders") == 3
    assert b.registry.get_sample_value("mortard_inflight_orders") == 7


def test_order_counts_zero_missing_states() -> None:
    m = Metrics()
    m.set_order_counts({"pending": 4, "dead": 1})
    m.set_order_counts({"pending": 2})
    value = m.registry.get_sample_value
    assert value("mortard_orders", {"state": "pending"}) == 2
    assert value("mortard_orders", {"state": "dead"}) == 0
    assert all(value("mortard_orders", {"state": s}) is not None for s in ORDER_STATES)


def test_pending_reasons_are_published_and_drop_to_zero_when_gone() -> None:
    m = Metrics()
    m.set_pending_reasons({"payment_after_close": 2, "total_mismatch": 1})
    m.set_pending_reasons({"payment_after_close": 1})
    value = m.registry.get_sample_value
    assert value("mortard_orders_pending_reasons", {"code": "payment_after_close"}) == 1
    assert value("mortard_orders_pending_reasons", {"code": "total_mismatch"}) == 0


def test_partition_lag_and_forget() -> None:
    m = Metrics()
    m.set_partition_lag(3, 12)
    m.set_partition_lag(4, -2)
    assert m.registry.get_sample_value("mortard_consumer_lag", {"partition": "3"}) == 12
    assert m.registry.get_sample_value("mortard_consumer_lag", {"partition": "4"}) == 0
    m.forget_partition(3)
    m.forget_partition(99)
    assert m.registry.get_sample_value("mortard_consumer_lag", {"partition": "3"}) is None


def test_render_for_negotiates_openmetrics() -> None:
    m = Metrics()
    body, ctype = m.render_for("application/openmetrics-text; version=1.0.0")
    assert ctype.startswith("application/openmetrics-text")
    assert body.rstrip().endswith(b"# EOF")
    body, ctype = m.render_for(None)
    assert ctype == "text/plain; version=0.0.4; charset=utf-8"
    assert b"# TYPE mortard_inflight_orders gauge" in body
