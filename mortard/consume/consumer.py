"""The Kafka side of the daemon: poll, write each batch to the inbox, then commit what is durable.

Three tasks share one consumer: the poller (never stops polling; pauses partitions when too much is
buffered), the writer (one inbox transaction per batch, dead letters for what can't be parsed) and
the committer (commits each partition's contiguous durable low-watermark periodically and on revoke).
"""
from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Container
from typing import Any

import asyncpg
import structlog
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.errors import CommitFailedError, IllegalStateError, KafkaError

from mortard.config import KafkaConfig
from mortard.consume.assignment import Assignment, ConsumerStats, RebalanceListener
from mortard.consume.idle import IDLE_REST_S, IdlePolls
from mortard.consume.lag import LagGauges
from mortard.consume.offsets import OffsetTracker
from mortard.consume.stopping import POLL_STOP_S, STOP_STEP_S, bounded, join_or_cancel
from mortard.ops.shutdown import end_tasks
from mortard.consume.security import kafka_client_options
from mortard.consume.topics import ensure_topics
from mortard.consume.records import MalformedRecord, dead_letter_headers, dead_letter_of, parse_record
from mortard.ops.throttled_log import ThrottledLog
from mortard.store.events import InboxEvent
from mortard.store.inbox import DeadLetter, write_batch

log = structlog.get_logger(__name__)


OnDue = Callable[[str, int], None]


class InboxConsumer:
    def __init__(self, kafka: KafkaConfig, pool: asyncpg.Pool, *, known_shops: Container[str],
                 on_due: OnDue | None = None, metrics: Any = None, client_id: str = "mortard",
                 drain_timeout_s: float = 30.0) -> None:
        self._cfg = kafka
        self._pool = pool
        self._known_shops = known_shops
        self._on_due = on_due
        self._metrics = metrics
        self._client_id = client_id
        self._drain_timeout = drain_timeout_s
        self._tracker = OffsetTracker()
        self._queue: asyncio.Queue[list[ConsumerRecord] | None] = asyncio.Queue()
        self._buffered = 0
        self._write_log = ThrottledLog(log, interval_s=60.0)   # Postgres away: a line a minute per class
        self._paused = False
        self._stopping = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._consumer: AIOKafkaConsumer | None = None
        self._producer: AIOKafkaProducer | None = None
        self._commit_lock = asyncio.Lock()
        self.stats = ConsumerStats()
        self.failed = asyncio.Event()   # set if a consumer task died; the daemon stops on it
        self.started = False
        # Since when records have been fetched but not committed (None when all are committed), so
        # mortard_commit_age_seconds stays 0 on an idle daemon and grows only when commits lag.
        self._uncommitted_since: float | None = None
        self._lag = LagGauges(metrics)   # the mortard_consumer_lag series of the partitions we hold
        self._assignment = Assignment()   # what we hold, and since when nothing (consume/assignment.py)

    # -- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        """Create the topics if allowed, connect, join the group. On failure nothing is left
        connected, so the caller may simply call `start()` again."""
        try:
            await self._connect()
        except BaseException:
            for client in (self._consumer, self._producer):
                if client is not None:
                    await bounded(client.stop(), STOP_STEP_S, "cleanup_after_failed_start")
            self._consumer = self._producer = None
            raise
        self._tasks = [asyncio.create_task(self._poll_loop(), name="kafka-poll"),
                       asyncio.create_task(self._write_loop(), name="inbox-write"),
                       asyncio.create_task(self._commit_loop(), name="kafka-commit")]
        for task in self._tasks:
            task.add_done_callback(self._task_ended)
        self.started = True

    async def _connect(self) -> None:
        cfg = self._cfg
        options = kafka_client_options(cfg)
        await ensure_topics(cfg.bootstrap, {cfg.topic: cfg.partitions, cfg.dead_letter_topic: 1},
                            replication_factor=cfg.replication_factor, create=cfg.create_topics == "auto",
                            options=options)
        self._producer = AIOKafkaProducer(**options, acks="all", client_id=f"{self._client_id}-dlq")
        await self._producer.start()
        self._consumer = AIOKafkaConsumer(
            **options, group_id=cfg.group_id, client_id=self._client_id,
            group_instance_id=cfg.group_instance_id or None, enable_auto_commit=False,
            auto_offset_reset="earliest", session_timeout_ms=cfg.session_timeout_ms,
            heartbeat_interval_ms=cfg.heartbeat_interval_ms, max_poll_interval_ms=cfg.max_poll_interval_ms,
            rebalance_timeout_ms=max(cfg.session_timeout_ms, 10_000), fetch_max_wait_ms=cfg.fetch_max_wait_ms,
        )
        self._consumer.subscribe([cfg.topic], listener=RebalanceListener(self._on_assigned, self._on_revoked))
        await self._consumer.start()

    def _task_ended(self, task: asyncio.Task[None]) -> None:
        """A consumer task that ends on its own, except at stop, is a failure the daemon must see."""
        if task.cancelled() or self._stopping.is_set():
            return
        exc = task.exception()
        if exc is not None or task.get_name() != "inbox-write":
            log.error("consumer_task_died", task=task.get_name(), error=repr(exc))
            self.failed.set()

    @property
    def assignment(self) -> set[TopicPartition]:
        return set(self._consumer.assignment()) if self._consumer else set()

    @property
    def buffered(self) -> int:
        return self._buffered

    def unassigned_for(self) -> float:
        """Seconds this consumer has held no partition (0 while it holds some)."""
        return self._assignment.unassigned_for()

    def topic_partitions(self) -> int:
        """Partitions of the order topic in the client's metadata (0 if unknown)."""
        if self._consumer is None:
            return 0
        return len(self._consumer.partitions_for_topic(self._cfg.topic) or ())

    def assignment_problem(self, max_unassigned_s: float) -> str | None:
        """Why this consumer is not doing its share, or None (see `Assignment.problem`)."""
        if not self.started or self.failed.is_set():
            return "consumer not running"
        return self._assignment.problem(self._cfg.topic, self.topic_partitions(), max_unassigned_s)

    async def stop(self) -> None:
        """Stop polling, write what is buffered (within the drain budget), commit, leave the group."""
        self._stopping.set()
        if self._tasks:   # a poll cut short fetched nothing we track: it is simply fetched again
            await join_or_cancel(self._tasks[0], POLL_STOP_S, "poll_loop")
        self._queue.put_nowait(None)
        writer = self._tasks[1] if len(self._tasks) > 1 else None
        if writer is not None:
            try:
                await asyncio.wait_for(asyncio.shield(writer), self._drain_timeout)
            except asyncio.TimeoutError:
                log.warning("inbox_drain_timeout", buffered=self._buffered)
                writer.cancel()
            except Exception:
                pass  # already logged as inbox_writer_crashed; still commit what is durable
        await end_tasks(self._tasks[1:], "consumer_tasks")   # the committer ends at its next turn anyway
        # Each step below talks to the broker; a group stuck in rebalance can make any of them wait
        # for ever, so each gets a bound (what is not committed is replayed; the inbox dedupes).
        await bounded(self._commit(), STOP_STEP_S, "final_commit")
        if self._consumer is not None:
            await bounded(self._consumer.stop(), STOP_STEP_S, "consumer_leave_group")
        if self._producer is not None:
            await bounded(self._producer.stop(), STOP_STEP_S, "dlq_producer_stop")
        log.info("consumer_stopped", consumed=self.stats.consumed, dead_lettered=self.stats.dead_lettered)

    # -- tasks -------------------------------------------------------------------------------

    async def _poll_loop(self) -> None:
        assert self._consumer is not None
        idle = IdlePolls()   # caught up: long polls, or short ones and rests (consume/idle.py)
        while not self._stopping.is_set():
            cpu0, t0 = time.process_time(), time.monotonic()
            try:
                batches = await self._consumer.getmany(timeout_ms=idle.window_ms(), max_records=1000)
            except KafkaError as exc:
                log.warning("kafka_poll_failed", error=str(exc))
                await asyncio.sleep(0.5)
                continue
            records = [r for recs in batches.values() for r in recs]
            if not records:
                rest = idle.nothing(time.process_time() - cpu0, time.monotonic() - t0)
                if rest:
                    await self._rest(rest)
                continue
            idle.found()
            for r in records:
                self._tracker.track(TopicPartition(r.topic, r.partition), r.offset)
            if self._uncommitted_since is None:
                self._uncommitted_since = time.time()
            self._buffered += len(records)
            self._queue.put_nowait(records)
            if self._buffered >= self._cfg.max_buffered_records and not self._paused:
                # Back-pressure: keep polling (heartbeats, rebalances) but fetch nothing new.
                self._consumer.pause(*self._consumer.assignment())
                self._paused = True
                log.info("consumer_paused", buffered=self._buffered)

    async def _rest(self, seconds: float) -> None:
        assert self._consumer is not None
        resting = () if self._paused or seconds < IDLE_REST_S else self._consumer.assignment()
        if resting:
            self._consumer.pause(*resting)
        try:
            await asyncio.sleep(seconds)
        finally:
            if resting and not self._paused:
                self._consumer.resume(*(tp for tp in resting if tp in self._consumer.assignment()))

    async def _write_loop(self) -> None:
        while True:
            batch = await self._queue.get()
            if batch is None:
                return
            try:
                await self._write_with_retry(batch)
            except Exception:
                # A bug, not an outage: nothing of this batch is committed, so stop consuming loudly
                # (the daemon exits non-zero and its supervisor restarts it) rather than skip it.
                log.exception("inbox_writer_crashed", batch=len(batch))
                self.failed.set()
                raise
            for r in batch:
                self._tracker.done(TopicPartition(r.topic, r.partition), r.offset)
            self._buffered -= len(batch)
            if self._paused and self._buffered <= self._cfg.max_buffered_records // 2 and self._consumer:
                assigned = self._consumer.assignment()
                if assigned:
                    self._consumer.resume(*assigned)
                self._paused = False
                log.info("consumer_resumed", buffered=self._buffered)

    async def _commit_loop(self) -> None:
        while not self._stopping.is_set():
            await asyncio.sleep(self._cfg.commit_interval_s)
            await self._commit()
            await self._observe_lag()

    # -- writing -----------------------------------------------------------------------------

    async def _write_with_retry(self, batch: list[ConsumerRecord]) -> None:
        delay = 0.1
        while True:
            try:
                await self._write(batch)
                self._write_log.recovered("inbox_write")
                return
            except (OSError, asyncpg.InterfaceError, asyncpg.PostgresError, KafkaError,
                    asyncio.TimeoutError) as exc:
                # Nothing is committed until this batch is durable; keep trying (Postgres or the
                # broker is down). The partitions stay paused once the buffer fills.
                self._write_log.failure("inbox_write_failed", exc, retry_in=round(delay, 2))
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)

    async def _write(self, batch: list[ConsumerRecord]) -> None:
        started = time.perf_counter()
        events: list[InboxEvent] = []
        dead: list[DeadLetter] = []
        for r in batch:
            try:
                events.append(parse_record(kafka_topic=r.topic, partition=r.partition, offset=r.offset,
                                           value=r.value, headers=r.headers, known_shops=self._known_shops))
            except MalformedRecord as exc:
                dead.append(dead_letter_of(r, exc.reason, exc.detail))
        try:
            new = await self._store(events, dead)
        except (asyncpg.DataError, asyncpg.UntranslatableCharacterError, ValueError, RecursionError):
            # One event Postgres can't store (a NUL in text, Infinity): find it, dead-letter it alone.
            new, dead = await self._store_one_by_one(batch, events, dead)
        if dead:
            # After the rows are durable; a crash before this replays the batch and publishes again
            # (the topic is at-least-once, the table is exactly-once on the record's coordinates).
            await self._publish_dead(dead)
        self.stats.batches += 1
        self.stats.consumed += len(batch)
        self.stats.new_events += len(new)
        self.stats.duplicates += len(events) - len(new)
        self.stats.dead_lettered += len(dead)
        self._count(events, dead, time.perf_counter() - started)
        for reason in {d.reason for d in dead}:
            log.warning("record_dead_lettered", reason=reason, count=sum(d.reason == reason for d in dead))
        if self._on_due is not None:
            for key in dict.fromkeys((e.shop, e.order_id) for e in new):
                self._on_due(*key)

    async def _store(self, events: list[InboxEvent], dead: list[DeadLetter]) -> list[InboxEvent]:
        """One transaction per partition, run side by side: an order's events all share a partition
        (the key is the order), so the transactions never touch the same order row, and Postgres
        works on one while the next is being sent."""
        by_partition: dict[int, list[InboxEvent]] = {}
        for e in events:
            by_partition.setdefault(e.kafka_partition, []).append(e)
        groups = list(by_partition.values()) or [[]]

        async def one(group: list[InboxEvent], with_dead: bool) -> list[InboxEvent]:
            async with self._pool.acquire() as conn:
                flags = await write_batch(conn, group, dead if with_dead else ())
            return [e for e, is_new in zip(group, flags) if is_new]

        results = await asyncio.gather(*(one(g, i == 0) for i, g in enumerate(groups)))
        return [e for r in results for e in r]

    async def _store_one_by_one(self, batch: list[ConsumerRecord], events: list[InboxEvent],
                                dead: list[DeadLetter]) -> tuple[list[InboxEvent], list[DeadLetter]]:
        new: list[InboxEvent] = []
        by_coord = {(r.partition, r.offset): r for r in batch}
        for e in events:
            try:
                new += await self._store([e], [])
            except (asyncpg.DataError, asyncpg.UntranslatableCharacterError, ValueError, RecursionError) as exc:
                dead.append(dead_letter_of(by_coord[(e.kafka_partition, e.kafka_offset)], "unstorable",
                                         f"Postgres refused the event: {str(exc)[:300]}"))
        await self._store([], dead)
        return new, dead

    async def _publish_dead(self, dead: list[DeadLetter]) -> None:
        assert self._producer is not None
        futures = []
        for d in dead:
            futures.append(await self._producer.send(self._cfg.dead_letter_topic, value=d.value,
                                                     key=d.key, headers=dead_letter_headers(d)))
        await asyncio.gather(*futures)

    def _count(self, events: list[InboxEvent], dead: list[DeadLetter], seconds: float) -> None:
        m = self._metrics
        if m is None:
            return
        for e in events:
            m.events_consumed_total.labels(topic=e.topic).inc()
        for d in dead:
            m.events_dead_lettered_total.labels(reason=d.reason).inc()
        m.inbox_write_seconds.observe(seconds)

    # -- committing --------------------------------------------------------------------------

    async def _commit(self, only: list[TopicPartition] | None = None) -> None:
        if self._consumer is None:
            return
        async with self._commit_lock:
            assigned = self._consumer.assignment()
            offsets = {tp: off for tp, off in self._tracker.committable().items()
                       if tp in assigned and (only is None or tp in only)}
            if not offsets:
                return
            try:
                await self._consumer.commit(offsets)
            except (CommitFailedError, IllegalStateError) as exc:
                # Expected while the group rebalances: the records are durable in the inbox, so the
                # next owner replays at most a commit interval and the inbox drops the duplicates.
                log.info("kafka_commit_skipped", reason=type(exc).__name__)
                return
            except KafkaError as exc:
                log.warning("kafka_commit_failed", error=repr(exc))
                return
            self._tracker.mark_committed(offsets)
            self.stats.last_commit_at = time.time()
            self._settle_uncommitted()
            if self._metrics is not None and self._uncommitted_since is None:
                self._metrics.commit_age_seconds.set(0)

    def _settle_uncommitted(self) -> None:
        """After a commit or revoke: clear the age when nothing is left to commit; else restart it
        from now (what remains was fetched after the records just committed)."""
        if self._uncommitted_since is None:
            return
        left = self._tracker.pending() or self._tracker.committable()
        self._uncommitted_since = time.time() if left else None

    def _on_assigned(self, assigned: list[TopicPartition]) -> None:
        self._assignment.assigned(assigned)

    async def _on_revoked(self, revoked: list[TopicPartition]) -> None:
        self._assignment.revoked(revoked)
        if self._metrics is not None:
            for tp in revoked:
                self._lag.forget(tp.partition)   # no stale lag for partitions gone elsewhere
        # Let the writer finish what it holds for these partitions, then commit them once.
        deadline = time.monotonic() + min(self._drain_timeout, 10.0)
        while any(self._tracker.pending(tp) for tp in revoked) and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        await self._commit(only=revoked)
        self._tracker.forget(revoked)
        self._settle_uncommitted()
        log.info("partitions_revoked", partitions=sorted(tp.partition for tp in revoked))

    async def _observe_lag(self) -> None:
        if self._metrics is None or self._consumer is None:
            return
        since = self._uncommitted_since
        if since is not None and not (self._tracker.pending() or self._tracker.committable()):
            self._uncommitted_since = since = None      # everything was committed meanwhile
        self._metrics.commit_age_seconds.set(0 if since is None else time.time() - since)
        await self._lag.observe(self._consumer, self._tracker, lambda: self._assignment.held)
