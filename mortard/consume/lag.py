"""The consumer-lag gauges: one `mortard_consumer_lag` series per partition this daemon holds, and
none for a partition it no longer holds (a stale series would show lag that nobody is working off)."""
from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import IllegalStateError, KafkaError

from mortard.consume.offsets import OffsetTracker


class LagGauges:
    def __init__(self, metrics: Any) -> None:
        self._metrics = metrics
        self._series: set[int] = set()      # partitions with a series from us

    def forget(self, partition: int) -> None:
        if self._metrics is not None:
            self._metrics.forget_partition(partition)
        self._series.discard(partition)

    async def observe(self, consumer: AIOKafkaConsumer, tracker: OffsetTracker,
                      held: Callable[[], set[TopicPartition]]) -> None:
        """Lag = high watermark − durable point, for what `held()` says is ours (asked again after
        the awaits: a rebalance may have run meanwhile)."""
        m = self._metrics
        if m is None:
            return
        lags: dict[int, int] = {}
        for tp in list(held()):
            high = consumer.highwater(tp)
            done = tracker.durable_point(tp)
            if high is not None and done is None:
                # Nothing read here since it was assigned: the fetch position is where we stand.
                try:
                    done = await asyncio.wait_for(consumer.position(tp), 0.5)
                except (asyncio.TimeoutError, KafkaError, IllegalStateError):
                    continue
            if high is not None and done is not None:
                lags[tp.partition] = max(0, high - done)
        owned = {tp.partition for tp in held()}
        for partition in self._series - owned:
            m.forget_partition(partition)
        self._series = {p for p in lags if p in owned}
        for partition in self._series:
            m.consumer_lag.labels(partition=str(partition)).set(lags[partition])
