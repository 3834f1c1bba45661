"""Ingest's ops listener, apart from the public webhook port: `/metrics` with only ingest's own series
(its requests and produce latency, the build and the process), `/healthz` (the loop answers) and a
`/readyz` that asks the broker (a metadata round trip through the producer's own connection)."""
from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from prometheus_client.exposition import choose_encoder

from mortard.ops.health import OpsServer

# Families of mortard.ops.metrics.Metrics that are ingest's; the daemon's would all read 0 here.
_OWN_PREFIXES = ("mortard_ingest_", "mortard_build_info", "process_", "python_")


class IngestMetricsView:
    """`render_for` over only ingest's families of a shared `Metrics` registry."""

    def __init__(self, metrics: Any) -> None:
        self._registry = metrics.registry

    def collect(self) -> Iterator[Any]:
        return (family for family in self._registry.collect() if family.name.startswith(_OWN_PREFIXES))

    def render_for(self, accept: str | None) -> tuple[bytes, str]:
        encoder, content_type = choose_encoder(accept or "")
        return encoder(self), content_type


def ingest_ops_server(metrics: Any, sink: Any, *, host: str, port: int) -> OpsServer:
    """`sink`: a KafkaSink; readiness = its producer is up and the broker answers it."""
    return OpsServer(IngestMetricsView(metrics), host=host, port=port,   # type: ignore[arg-type]
                     readiness_checks={"kafka": sink.healthy}, liveness=lambda: True)
