"""Where accepted webhooks go: a `RecordSink`; in production an aiokafka producer (`KafkaSink`)."""
from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

import structlog
from aiokafka import AIOKafkaProducer
from aiokafka.errors import (
    InvalidProducerEpoch,
    InvalidProducerIdMapping,
    KafkaError,
    OutOfOrderSequenceNumber,
    ProducerFenced,
    UnknownProducerId,
)

_log = structlog.get_logger("mortard.ingest")

# Room for the record headers, key and batch framing on top of the largest accepted body.
_RECORD_OVERHEAD_BYTES = 64 * 1024

# The broker no longer knows this producer's id/sequence (e.g. it lost state in a crash). An
# idempotent aiokafka producer never recovers from these by itself: replace it with a fresh one.
_PRODUCER_STATE_LOST = (OutOfOrderSequenceNumber, UnknownProducerId, InvalidProducerEpoch,
                        InvalidProducerIdMapping, ProducerFenced)


class SinkUnavailable(Exception):
    """The record was not acknowledged (broker down, slow or refusing); the caller should retry."""


class RecordSink(Protocol):
    async def send(self, topic: str, key: bytes, value: bytes,
                   headers: Sequence[tuple[str, bytes]]) -> None:
        """Return only once the record is durably acknowledged; else raise `SinkUnavailable`."""


@runtime_checkable
class ReportsReady(Protocol):
    """A sink that can tell whether it is able to send (used by `/healthz`)."""

    @property
    def ready(self) -> bool: ...


class KafkaSink:
    """An aiokafka producer with `acks="all"`; idempotent when the broker supports it (noida, Kafka).

    After `start()`, a producer that lost its broker-side state is replaced on the next send, and a
    failed (re)connect is retried on the next send, so the sink heals without a process restart.
    """

    def __init__(self, bootstrap: str, *, idempotent: bool, send_timeout_s: float,
                 max_body_bytes: int = 2 * 1024 * 1024, linger_ms: int = 2,
                 client_id: str = "mortard-ingest", client_options: Mapping[str, Any] | None = None) -> None:
        self._bootstrap = bootstrap
        # mortard.consume.security.kafka_client_options: TLS and SASL settings.
        self._client_options = dict(client_options or {})
        self._client_options.pop("bootstrap_servers", None)
        self._idempotent = idempotent
        self._send_timeout_s = send_timeout_s
        self._max_request_size = max(max_body_bytes + _RECORD_OVERHEAD_BYTES, 1024 * 1024)
        self._linger_ms = linger_ms
        self._client_id = client_id
        self._producer: AIOKafkaProducer | None = None
        self._wanted = False
        self._lock = asyncio.Lock()
        self._retiring: set[asyncio.Task[None]] = set()

    @property
    def ready(self) -> bool:
        return self._producer is not None

    async def healthy(self) -> bool:
        """The producer is up and the broker answers it now (a metadata request: cheap, and through
        the same connection settings the webhooks use). For ingest's `/readyz`."""
        producer = self._producer
        if producer is None:
            return False
        try:
            return bool(await producer.client.fetch_all_metadata())
        except (KafkaError, OSError):
            return False

    async def start(self) -> None:
        """Connect; raises `SinkUnavailable` when the broker can't be reached (safe to call again)."""
        self._wanted = True
        await self._connect()

    async def stop(self) -> None:
        """Flush what is buffered and disconnect."""
        self._wanted = False
        producer, self._producer = self._producer, None
        if producer is not None:
            await producer.stop()
        if self._retiring:
            await asyncio.gather(*self._retiring, return_exceptions=True)

    async def send(self, topic: str, key: bytes, value: bytes,
                   headers: Sequence[tuple[str, bytes]]) -> None:
        if not self._wanted:
            raise SinkUnavailable("the Kafka producer is not started")
        producer = self._producer
        try:
            async with asyncio.timeout(self._send_timeout_s):
                producer = producer or await self._connect()
                await producer.send_and_wait(topic, value=value, key=key, headers=list(headers))
        except TimeoutError:
            raise SinkUnavailable(f"Kafka did not acknowledge within {self._send_timeout_s}s") from None
        except _PRODUCER_STATE_LOST as exc:
            self._retire(producer, exc)
            raise SinkUnavailable(f"Kafka lost this producer's state: {exc!r}") from exc
        except KafkaError as exc:
            raise SinkUnavailable(f"Kafka refused the record: {exc!r}") from exc

    async def _connect(self) -> AIOKafkaProducer:
        async with self._lock:
            if self._producer is None:
                producer = AIOKafkaProducer(
                    **self._client_options, bootstrap_servers=self._bootstrap, client_id=self._client_id, acks="all",
                    enable_idempotence=self._idempotent, linger_ms=self._linger_ms,
                    max_request_size=self._max_request_size,
                    request_timeout_ms=max(int(self._send_timeout_s * 1000), 1000),
                )
                try:
                    await producer.start()
                except KafkaError as exc:
                    await producer.stop()
                    raise SinkUnavailable(f"cannot connect to Kafka at {self._bootstrap}: {exc!r}") from exc
                self._producer = producer
            return self._producer

    def _retire(self, producer: AIOKafkaProducer | None, exc: BaseException) -> None:
        if producer is None or self._producer is not producer:
            return  # another send already replaced it
        self._producer = None
        _log.warning("kafka_producer_reset", error=repr(exc))
        task = asyncio.create_task(producer.stop())  # its pending sends fail; their callers get 503
        self._retiring.add(task)
        task.add_done_callback(self._retired)

    def _retired(self, task: asyncio.Task[None]) -> None:
        self._retiring.discard(task)
        if not task.cancelled() and task.exception() is not None:
            _log.error("kafka_producer_stop_failed", exc_info=task.exception())
