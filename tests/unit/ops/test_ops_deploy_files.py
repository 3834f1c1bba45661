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


def test_both_units_refuse_to_restart_loop_on_a_wrong_config() -> None:
    for name in ("mortard.service", "mortard-ingest.service"):
        unit = (ROOT / "systemd" / name).read_text()
        lines = {line.strip() for line in unit.splitlines() if line.strip() and not line.startswith("#")}
        assert "RestartPreventExitStatus=78" in lines and "Restart=on-failure" in lines, name
    ingest = (ROOT / "systemd/mortard-ingest.service").read_text()
    assert "ExecStart=/usr/bin/env mortard ingest --config /etc/mortard/mortard.toml" in ingest
    assert "DynamicUser=yes" in ingest and "ProtectSystem=strict" in ingest


def test_systemd_analyze_verify_accepts_the_units() -> None:
    import shutil
    import subprocess
    import pytest
    tool = shutil.which("systemd-analyze")
    if tool is None:
        pytest.skip("systemd-analyze is not installed: the units were not verified")
    units = [str(ROOT / "systemd" / n) for n in ("mortard.service", "mortard-ingest.service")]
    out = subprocess.run([tool, "verify", *units], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and "mortard" not in out.stderr, out.stderr


def test_the_container_health_check_probes_both_commands_ops_ports() -> None:
    docker = (ROOT / "Dockerfile").read_text()
    assert 'CMD ["python", "-m", "mortard.ops.probe"]' in docker
    assert "MORTARD_INGEST__OPS_HOST=0.0.0.0" in docker and "EXPOSE 9464 8080 9465" in docker


def test_every_alert_links_its_runbook_section() -> None:
    text = (ROOT / "deploy/prometheus/mortard-alerts.yml").read_text()
    alerts = re.findall(r"- alert: (\w+)\n", text)
    links = re.findall(r'runbook_url: "docs/runbook.md#(\w+)"', text)
    assert len(links) == len(alerts) and links == [a.lower() for a in alerts]
    runbook = (ROOT / "docs/runbook.md").read_text()
    for alert in alerts:
        assert f"\n## {alert}\n" in runbook, alert
    for ingest in ("MortardIngestUnauthorized", "MortardIngestRejected", "MortardIngestServerErrors",
                   "MortardIngestProduceFailures", "MortardIngestSlowProduce"):
        assert ingest in alerts


def test_promtool_accepts_the_rules() -> None:
    import shutil
    import subprocess
    import pytest
    tool = shutil.which("promtool")
    if tool is None:
        pytest.skip("promtool is not installed: the alert rules were not checked")
    out = subprocess.run([tool, "check", "rules", str(ROOT / "deploy/prometheus/mortard-alerts.yml")],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr


def test_the_units_documentation_names_docs_the_project_ships_where_the_units_install_them() -> None:
    """Each unit's Documentation= file:///usr/share/doc/mortard/X is a doc in docs/, and the unit's own
    install steps (and the image) put docs/ there: `systemctl help` opens a real page."""
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "COPY LICENSE docs/*.md /usr/share/doc/mortard/" in dockerfile
    for unit in sorted((ROOT / "systemd").glob("*.service")):
        text = unit.read_text()
        (line,) = [ln for ln in text.splitlines() if ln.startswith("Documentation=")]
        uris = line.removeprefix("Documentation=").split()
        assert uris, unit.name
        for uri in uris:
            assert uri.startswith("file:///usr/share/doc/mortard/"), (unit.name, uri)
            assert (ROOT / "docs" / uri.rsplit("/", 1)[1]).is_file(), (unit.name, uri)
        assert "install -D -m 0644 -t /usr/share/doc/mortard docs/*.md" in text, unit.name


def test_the_readme_links_only_inside_the_repository_or_to_the_web() -> None:
    readme = (ROOT / "README.md").read_text()
    for target in re.findall(r"\]\(([^)\s]+)\)", readme):
        if target.startswith(("http://", "https://", "#", "mailto:")):
            continue
        path = (ROOT / target.split("#", 1)[0]).resolve()
        assert path.is_relative_to(ROOT) and path.exists(), target
