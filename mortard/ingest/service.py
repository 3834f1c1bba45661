"""`mortard ingest`: the webhook endpoint and its Kafka producer, from start to a clean stop."""
from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import structlog
from aiohttp import web

from mortard.config import Config
from mortard.ops.metrics import Metrics
from mortard.consume.security import kafka_client_options
from mortard.ingest.app import create_ingest_app
from mortard.ingest.ops import ingest_ops_server
from mortard.ingest.producer import KafkaSink, SinkUnavailable

_log = structlog.get_logger("mortard.ingest")

_RETRY_FIRST_S = 0.5
_RETRY_MAX_S = 5.0


async def run_ingest(config: Config, *, metrics: Any | None = None, stop: asyncio.Event) -> None:
    """Serve webhooks on `config.ingest.host:port` until `stop` is set, then drain and return.

    The HTTP site opens first; until the producer has connected, webhooks get 503 (Shopify retries)
    and `/healthz` answers 503. On stop: no new connections, in-flight webhooks finish (each is
    bounded by `produce_timeout_s`), then the producer flushes and disconnects.
    """
    ingest = config.ingest
    sink = KafkaSink(config.kafka.bootstrap, idempotent=config.kafka.idempotent_producer,
                     send_timeout_s=ingest.produce_timeout_s, max_body_bytes=ingest.max_body_bytes,
                     client_options=kafka_client_options(config.kafka))
    # The public port serves webhooks (and a plain /healthz); metrics and readiness live on the ops port.
    app = create_ingest_app(config.shops, sink, topic=config.kafka.topic,
                            max_body_bytes=ingest.max_body_bytes,
                            produce_timeout_s=ingest.produce_timeout_s, metrics=metrics,
                            serve_metrics=False)
    ops = ingest_ops_server(metrics if metrics is not None else Metrics(), sink,
                            host=ingest.ops_host, port=ingest.ops_port)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=ingest.produce_timeout_s + 1.0)
    await runner.setup()
    try:
        await ops.start()
        site = web.TCPSite(runner, ingest.host, ingest.port)
        await site.start()
        _log.info("ingest_listening", host=ingest.host, port=ingest.port, topic=config.kafka.topic,
                  shops=len(config.shops), ops_port=ops.port)
        await _start_sink(sink, stop)
        await stop.wait()
        _log.info("ingest_stopping")
    finally:
        await runner.cleanup()
        await sink.stop()
        await ops.stop()
    _log.info("ingest_stopped")


async def _start_sink(sink: KafkaSink, stop: asyncio.Event) -> None:
    """Connect the producer, retrying with backoff until it works or `stop` is set."""
    delay = _RETRY_FIRST_S
    while not stop.is_set():
        try:
            await sink.start()
        except SinkUnavailable as exc:
            _log.warning("kafka_unavailable", error=str(exc), retry_in_s=delay)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), delay)
            delay = min(delay * 2, _RETRY_MAX_S)
        else:
            _log.info("kafka_producer_started")
            return
