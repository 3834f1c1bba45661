"""The dashboard, the alert rules and the unit file only name metrics and settings that exist."""

from __future__ import annotations

import json
import re
from pathlib import Path

from mortard.ops.metrics import Metrics

ROOT = Path(__file__).resolve().parents[3]
_METRIC = re.compile(r"\b(mortard_[a-z_]+)")
_SUFFIXES = ("_bucket", "_sum", "_count", "_created")


def _declared() -> set[str]:
    names = set()
    for metric in Metrics().registry.collect():
        for sample in metric.samples:
            names.add(sample.name)
        names.add(metric.name)
        if metric.type == "counter":  # a counter without children yet has no samples to show its name
            names.add(metric.name + "_total")
    return names


def _base(name: str) -> str:
    for suffix in _SUFFIXES:
        if name.endswith(suffix):
            return name.removesuffix(suffix)
    return name


def _undeclared(text: str) -> set[str]:
    declared = _declared()
    used = set(_METRIC.findall(text))
    return {n for n in used if n not in declared and _base(n) not in declared}


def test_dashboard_is_json_and_uses_declared_metrics() -> None:
    text = (ROOT / "deploy/grafana/mortard-dashboard.json").read_text()
    dashboard = json.loads(text)
    assert dashboard["uid"] and dashboard["panels"]
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    exprs = " ".join(t["expr"] for p in dashboard["panels"] for t in p.get("targets", []))
    assert _undeclared(exprs) == set()


def test_alert_rules_use_declared_metrics() -> None:
    text = (ROOT / "deploy/prometheus/mortard-alerts.yml").read_text()
    assert text.lstrip().startswith("#") and "\ngroups:\n" in text
    assert _undeclared(text) == set()
    for alert in ("MortardDown", "MortardNoProgress", "MortardCommitAgeHigh", "MortardOrdersDead",
                  "MortardHeartland429Storm", "MortardBreakerOpen", "MortardEventLoopLagHigh"):
        assert f"- alert: {alert}\n" in text


def test_unit_file_is_type_notify_with_watchdog() -> None:
    unit = (ROOT / "systemd/mortard.service").read_text()
    lines = {line.strip() for line in unit.splitlines() if line.strip() and not line.startswith("#")}
    for expected in ("Type=notify", "NotifyAccess=main", "WatchdogSec=30", "TimeoutStopSec=60",
                     "Restart=on-failure", "DynamicUser=yes", "CapabilityBoundingSet="):
        assert expected in lines
