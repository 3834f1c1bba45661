"""Operations: structured logging, Prometheus metrics, the ops HTTP listener, systemd notify, loop monitor."""

from __future__ import annotations

from mortard.ops.health import OpsServer, ReadinessCheck
from mortard.ops.logging import bind_order, configure_logging, redact_secrets
from mortard.ops.loop_monitor import LoopMonitor
from mortard.ops.metrics import HeartlandMetricsObserver, Metrics
from mortard.ops.systemd import Notifier, watchdog_interval

__all__ = [
    "HeartlandMetricsObserver",
    "LoopMonitor",
    "Metrics",
    "Notifier",
    "OpsServer",
    "ReadinessCheck",
    "bind_order",
    "configure_logging",
    "redact_secrets",
    "watchdog_interval",
]
