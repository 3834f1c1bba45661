"""The reconciliation alerts exist and name only declared metrics (promtool is not installed here)."""
from __future__ import annotations

from pathlib import Path

from test_ops_deploy_files import _undeclared

ROOT = Path(__file__).resolve().parents[3]


def test_reconciliation_alerts_are_declared_with_real_metrics() -> None:
    text = (ROOT / "deploy/prometheus/mortard-alerts.yml").read_text()
    for alert in ("MortardReconcileRecoversOrders", "MortardReconcileFailing", "MortardReconcileLagging",
                  "MortardWebhookSubscriptionsMissing", "MortardShopifyThrottled"):
        assert f"- alert: {alert}\n" in text
    assert _undeclared(text) == set()
    for metric in ("mortard_reconcile_recovered_orders_total", "mortard_reconcile_runs_total",
                   "mortard_webhook_subscriptions_missing", "mortard_shopify_throttled_total"):
        assert metric in text
