"""What this consumer holds of the group's partitions, as the rebalance listener reports it (not
aiokafka's `assignment()`, which still lists revoked partitions while a rebalance runs), and since
when it has held none. State only; the consumer's tasks update and read it."""
from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any

import structlog
from aiokafka import TopicPartition
from aiokafka.abc import ConsumerRebalanceListener

log = structlog.get_logger(__name__)


@dataclass
class ConsumerStats:
    consumed: int = 0
    new_events: int = 0
    duplicates: int = 0
    dead_lettered: int = 0
    batches: int = 0
    last_commit_at: float | None = None


class RebalanceListener(ConsumerRebalanceListener):
    """Hands aiokafka's rebalance callbacks to the consumer (revoke first commits what is durable)."""

    def __init__(self, on_assigned: Callable[[list[TopicPartition]], None],
                 on_revoked: Callable[[list[TopicPartition]], Awaitable[None]]) -> None:
        self._on_assigned, self._on_revoked = on_assigned, on_revoked

    async def on_partitions_revoked(self, revoked: Any) -> None:
        await self._on_revoked(list(revoked))

    async def on_partitions_assigned(self, assigned: Any) -> None:
        self._on_assigned(list(assigned))
        log.info("partitions_assigned", partitions=sorted(tp.partition for tp in assigned))


class Assignment:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self.held: set[TopicPartition] = set()
        self._unassigned_since: float | None = clock()     # nothing is held before the first assignment

    def assigned(self, partitions: Iterable[TopicPartition]) -> None:
        self.held = set(partitions)
        if self.held:
            self._unassigned_since = None
        elif self._unassigned_since is None:
            self._unassigned_since = self._clock()

    def revoked(self, partitions: Iterable[TopicPartition]) -> None:
        if self._unassigned_since is None:
            self._unassigned_since = self._clock()   # a rebalance began: nothing held until assigned
        self.held -= set(partitions)

    def unassigned_for(self) -> float:
        """Seconds this consumer has held no partition (0 while it holds some)."""
        since = self._unassigned_since
        return 0.0 if since is None else self._clock() - since

    def problem(self, topic: str, topic_partitions: int, max_unassigned_s: float) -> str | None:
        """Why this consumer is not doing its share, or None: no partition for longer than
        `max_unassigned_s` while the topic has partitions (a group stuck in rebalance, or more
        daemons than partitions; either way this one consumes nothing)."""
        idle = self.unassigned_for()
        if idle > max_unassigned_s and topic_partitions > 0:
            return f"no partition of {topic} assigned for {idle:.0f}s"
        return None
