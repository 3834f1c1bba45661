"""Prometheus metrics for mortard, on a registry owned by one `Metrics` object.

No global registry: every `Metrics()` builds its own `CollectorRegistry`, so tests (and two apps in one
process) never clash. Every metric the daemon and the ingest endpoint publish is declared here, in one
place; other modules take a `Metrics` and call its attributes or helpers.

Labels come from small fixed sets (never an order id). The Shopify topic is folded into a known set
(unknown → ``"other"``), HTTP methods into the usual verbs, statuses into classes.
"""

from __future__ import annotations

import platform
from collections.abc import Mapping
from typing import Any

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    GCCollector,
    Histogram,
    PlatformCollector,
    ProcessCollector,
)
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4, choose_encoder, generate_latest

import mortard
from mortard.sync.states import SyncState

#: Shopify webhook topics mortard may see; anything else is counted as ``"other"``.
KNOWN_TOPICS: frozenset[str] = frozenset(
    {
        "orders/create",
        "orders/updated",
        "orders/edited",
        "orders/paid",
        "orders/cancelled",
        "orders/fulfilled",
        "orders/partially_fulfilled",
        "orders/delete",
        "orders/risk_assessment_changed",
        "refunds/create",
        "order_transactions/create",
        "returns/request",
        "returns/approve",
        "returns/decline",
        "returns/cancel",
        "returns/close",
        "returns/reopen",
        "returns/process",
        "reverse_fulfillment_orders/dispose",
        "fulfillment_orders/order_routing_complete",
        "fulfillment_orders/moved",
    }
)

#: Sync states (sync/states.py); `set_order_counts` publishes all of them, 0 when absent.
ORDER_STATES: tuple[str, ...] = tuple(s.value for s in SyncState)

_HTTP_METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"})

#: Step and Heartland request durations: 5 ms to 30 s.
STEP_BUCKETS: tuple[float, ...] = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
_DB_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
_LOOP_LAG_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
_PRODUCE_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


def topic_label(topic: str | None) -> str:
    """The `topic` label for a Shopify topic: itself when known, else ``"other"``."""
    return topic if topic in KNOWN_TOPICS else "other"


def status_class(status: int | None) -> str:
    """``"2xx"`` … ``"5xx"`` for an HTTP status; ``"error"`` for None/0 (no response) or anything odd."""
    if status is not None and 100 <= status <= 599:
        return f"{status // 100}xx"
    return "error"


def method_label(method: str) -> str:
    m = method.upper()
    return m if m in _HTTP_METHODS else "OTHER"


class _TopicCounter(Counter):
    """A Counter whose first label is `topic`, folded into `KNOWN_TOPICS` + ``"other"`` by `labels()`
    itself, so no caller can blow up the label set with an unexpected Shopify topic."""

    def labels(self, *labelvalues: Any, **labelkwargs: Any) -> Counter:
        if labelvalues:
            labelvalues = (topic_label(labelvalues[0]), *labelvalues[1:])
        if "topic" in labelkwargs:
            labelkwargs["topic"] = topic_label(labelkwargs["topic"])
        return super().labels(*labelvalues, **labelkwargs)


class Metrics:
    """Every mortard metric, registered on `self.registry`.

    Attribute names are the metric names without the `mortard_` prefix (`events_consumed_total`,
    `consumer_lag`, `heartland_requests_total` …). Counters labelled `topic` fold unknown Shopify
    topics into ``"other"`` themselves.
    """

    def __init__(self, *, version: str | None = None, python: str | None = None) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        # The standard process_* / python_* series (memory, fds, CPU, GC), on our registry.
        ProcessCollector(registry=r)
        PlatformCollector(registry=r)
        GCCollector(registry=r)

        # consume
        self.events_consumed_total = _TopicCounter(
            "mortard_events_consumed_total", "Kafka records written to the inbox, by Shopify topic.",
            ["topic"], registry=r,
        )
        self._events_consumed_by_topic = {
            t: self.events_consumed_total.labels(t) for t in KNOWN_TOPICS | {"other"}
        }
        self.events_dead_lettered_total = Counter(
            "mortard_events_dead_lettered_total", "Records sent to the dead-letter topic, by reason.",
            ["reason"], registry=r,
        )
        self.inbox_write_seconds = Histogram(
            "mortard_inbox_write_seconds", "Time to write one record to the inbox (one transaction).",
            buckets=_DB_BUCKETS, registry=r,
        )
        self.consumer_lag = Gauge(
            "mortard_consumer_lag", "Records behind per assigned partition (highwater - position).",
            ["partition"], registry=r,
        )
        self.commit_age_seconds = Gauge(
            "mortard_commit_age_seconds",
            "Seconds since the last successful offset commit while processed offsets were waiting.",
            registry=r,
        )

        # sync
        self.orders = Gauge(
            "mortard_orders", "Orders by sync state (periodic database count); those a person resolved "
            "count as state `resolved`.", ["state"], registry=r,
        )
        self.orders_completed_total = Counter(
            "mortard_orders_completed_total", "Order runs that ended, by outcome state.",
            ["outcome"], registry=r,
        )
        for state in ORDER_STATES:  # zero series exist from the start, so rate()/increase() see the first one
            self.orders_completed_total.labels(state)
        self.orders_pending_reasons = Gauge(
            "mortard_orders_pending_reasons",
            "Pending orders by reason code (periodic database count); e.g. payment_after_close: Shopify "
            "took money after Heartland closed the order, so their money no longer matches.",
            ["code"], registry=r,
        )
        self.step_duration_seconds = Histogram(
            "mortard_step_duration_seconds", "Duration of one sync step (plan, execute, record).",
            ["step"], buckets=STEP_BUCKETS, registry=r,
        )
        self.inflight_orders = Gauge(
            "mortard_inflight_orders", "Orders being worked on right now.", registry=r,
        )
        # the watch over waiting orders (sync/watch_runner.py)
        self.watch_calls_total = Counter(
            "mortard_watch_heartland_calls_total", "Heartland requests the watch over waiting orders made.",
            ["account"], registry=r,
        )
        self.watch_replanned_total = Counter(
            "mortard_watch_replanned_total", "Waiting orders the watch made due again, by why.",
            ["account", "why"], registry=r,
        )
        self.orders_drift_total = Counter(
            "mortard_orders_drift_total", "Changes staff made in Heartland to orders mortard took there, "
            "as the watch noticed them (recorded, not undone), by kind.", ["kind"], registry=r,
        )

        # heartland
        self.heartland_requests_total = Counter(
            "mortard_heartland_requests_total", "Heartland API requests by account, method, status class.",
            ["account", "method", "status_class"], registry=r,
        )
        self.heartland_request_duration_seconds = Histogram(
            "mortard_heartland_request_duration_seconds", "Heartland API request duration.",
            ["account"], buckets=STEP_BUCKETS, registry=r,
        )
        self.heartland_rate_limited_total = Counter(
            "mortard_heartland_rate_limited_total", "Heartland 429 answers, by account.",
            ["account"], registry=r,
        )
        self.account_concurrency_limit = Gauge(
            "mortard_account_concurrency_limit", "Current adaptive concurrency limit per Heartland account.",
            ["account"], registry=r,
        )
        self.account_breaker_open = Gauge(
            "mortard_account_breaker_open", "1 while the account's circuit breaker is open, else 0.",
            ["account"], registry=r,
        )

        # process
        self.event_loop_lag_seconds = Gauge(
            "mortard_event_loop_lag_seconds", "Latest measured event-loop lag.", registry=r,
        )
        self.event_loop_lag_distribution_seconds = Histogram(
            "mortard_event_loop_lag_distribution_seconds", "Distribution of measured event-loop lag.",
            buckets=_LOOP_LAG_BUCKETS, registry=r,
        )
        self.build_info = Gauge(
            "mortard_build_info", "Always 1; labels carry the build.", ["version", "python"], registry=r,
        )
        self.build_info.labels(version or mortard.__version__, python or platform.python_version()).set(1)

        # ingest
        self.ingest_requests_total = _TopicCounter(
            "mortard_ingest_requests_total", "Shopify webhooks received, by topic and outcome.",
            ["topic", "outcome"], registry=r,
        )
        self.ingest_produce_seconds = Histogram(
            "mortard_ingest_produce_seconds", "Time from webhook receipt to broker ack.",
            buckets=_PRODUCE_BUCKETS, registry=r,
        )

        # shopify admin API and reconciliation (labels: the shop domain, a configured, small set)
        self.shopify_requests_total = Counter(
            "mortard_shopify_requests_total", "Shopify Admin API calls by shop, operation and outcome.",
            ["shop", "operation", "outcome"], registry=r,
        )
        self.shopify_request_duration_seconds = Histogram(
            "mortard_shopify_request_duration_seconds", "Shopify Admin API call duration.",
            ["shop"], buckets=STEP_BUCKETS, registry=r,
        )
        self.shopify_throttled_total = Counter(
            "mortard_shopify_throttled_total", "Shopify answers that were THROTTLED, by shop.", ["shop"], registry=r,
        )
        self.shopify_query_cost_total = Counter(
            "mortard_shopify_query_cost_total", "Shopify query cost used (actualQueryCost points), by shop.",
            ["shop"], registry=r,
        )
        self.shopify_cost_available = Gauge(
            "mortard_shopify_cost_available", "Points in the shop's Shopify cost bucket at the last answer.",
            ["shop"], registry=r,
        )
        self.reconcile_recovered_orders_total = Counter(
            "mortard_reconcile_recovered_orders_total",
            "Order changes reconciliation found that no webhook had brought (webhooks are being missed).",
            ["shop"], registry=r,
        )
        self.reconcile_runs_total = Counter(
            "mortard_reconcile_runs_total", "Reconciliation runs by shop and outcome (ok, failed).",
            ["shop", "outcome"], registry=r,
        )
        self.reconcile_lag_seconds = Gauge(
            "mortard_reconcile_lag_seconds", "How far behind now the shop's durable reconciliation watermark is.",
            ["shop"], registry=r,
        )
        self.reconcile_last_success_timestamp_seconds = Gauge(
            "mortard_reconcile_last_success_timestamp_seconds", "Unix time of the shop's last good reconciliation.",
            ["shop"], registry=r,
        )
        self.webhook_subscriptions_missing = Gauge(
            "mortard_webhook_subscriptions_missing",
            "Webhook topics the shop needs with no subscription to mortard's address at the pinned version.",
            ["shop"], registry=r,
        )
        self.heartland_account_refused = Gauge(
            "mortard_heartland_account_refused",
            "1 while the Heartland account answers the token check with 401 or 403 (its orders wait), else 0.",
            ["account"], registry=r,
        )

    # -- helpers (label normalisation in one place) ---------------------------------------------------

    def event_consumed(self, topic: str | None) -> None:
        self._events_consumed_by_topic[topic_label(topic)].inc()

    def ingest_request(self, topic: str | None, outcome: str) -> None:
        self.ingest_requests_total.labels(topic, outcome).inc()

    def set_order_counts(self, counts: Mapping[str, int]) -> None:
        """Publish a fresh `{state: count}` (resolved orders as `resolved`); states missing from
        `counts`, known ones and those seen before, drop to 0."""
        seen = {sample.labels["state"] for metric in self.orders.collect() for sample in metric.samples}
        for state in (*ORDER_STATES, *sorted(seen - set(ORDER_STATES))):
            self.orders.labels(state).set(counts.get(state, 0))
        for state, n in counts.items():
            self.orders.labels(state).set(n)

    def set_pending_reasons(self, counts: Mapping[str, int]) -> None:
        """Publish a fresh `{reason code: pending orders}`; codes seen before and now absent drop to 0."""
        for metric in self.orders_pending_reasons.collect():
            for sample in metric.samples:
                if sample.labels["code"] not in counts:
                    self.orders_pending_reasons.labels(sample.labels["code"]).set(0)
        for code, n in counts.items():
            self.orders_pending_reasons.labels(code).set(n)

    def set_partition_lag(self, partition: int | str, lag: int) -> None:
        self.consumer_lag.labels(str(partition)).set(max(lag, 0))

    def forget_partition(self, partition: int | str) -> None:
        """Drop the lag series of a partition this process no longer owns (after a rebalance)."""
        try:
            self.consumer_lag.remove(str(partition))
        except KeyError:
            pass

    def observe_loop_lag(self, seconds: float) -> None:
        self.event_loop_lag_seconds.set(seconds)
        self.event_loop_lag_distribution_seconds.observe(seconds)

    def heartland_observer(self) -> HeartlandMetricsObserver:
        return HeartlandMetricsObserver(self)

    def shopify_observer(self) -> ShopifyMetricsObserver:
        return ShopifyMetricsObserver(self)

    # -- exposition -----------------------------------------------------------------------------------

    content_type: str = CONTENT_TYPE_PLAIN_0_0_4

    def render(self) -> bytes:
        """Prometheus text exposition (content type `Metrics.content_type`)."""
        return generate_latest(self.registry)

    def render_for(self, accept: str | None) -> tuple[bytes, str]:
        """Exposition negotiated on an HTTP `Accept` header: `(body, content_type)`."""
        encoder, content_type = choose_encoder(accept or "")
        return encoder(self.registry), content_type


class HeartlandMetricsObserver:
    """The Heartland client's observer hook, backed by `Metrics`.

    Implements `mortard.heartland.client.HeartlandObserver`. `status` None or 0 means no response
    (timeout, reset, DNS …) and is counted as status class ``"error"``.
    A 429 is counted by `on_response` like any 4xx; the client reports it to `on_rate_limited` too.
    """

    __slots__ = ("_m", "_counters", "_timers")

    def __init__(self, metrics: Metrics) -> None:
        self._m = metrics
        # Labelled children, looked up once: `.labels()` costs more than the increment (every call).
        self._counters: dict[tuple[str, str, str], Any] = {}
        self._timers: dict[str, Any] = {}

    def on_response(self, account: str, method: str, status: int | None, seconds: float) -> None:
        key = (account, method_label(method), status_class(status))
        counter = self._counters.get(key)
        if counter is None:
            counter = self._counters[key] = self._m.heartland_requests_total.labels(*key)
        counter.inc()
        timer = self._timers.get(account)
        if timer is None:
            timer = self._timers[account] = self._m.heartland_request_duration_seconds.labels(account)
        timer.observe(seconds)

    def on_rate_limited(self, account: str) -> None:
        self._m.heartland_rate_limited_total.labels(account).inc()


class ShopifyMetricsObserver:
    """`mortard.shopify.ShopifyObserver` feeding the `mortard_shopify_*` series."""

    __slots__ = ("_m",)

    def __init__(self, metrics: Metrics) -> None:
        self._m = metrics

    def on_response(self, shop: str, operation: str, outcome: str, seconds: float) -> None:
        self._m.shopify_requests_total.labels(shop, operation, outcome).inc()
        self._m.shopify_request_duration_seconds.labels(shop).observe(seconds)

    def on_cost(self, shop: str, actual_cost: float, available: float, maximum: float) -> None:
        self._m.shopify_query_cost_total.labels(shop).inc(max(0.0, actual_cost))
        self._m.shopify_cost_available.labels(shop).set(available)

    def on_throttled(self, shop: str) -> None:
        self._m.shopify_throttled_total.labels(shop).inc()
