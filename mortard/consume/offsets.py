"""Which offsets may be committed: per partition, the contiguous low-watermark of durable records."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Hashable


@dataclass
class _Partition:
    pending: set[int] = field(default_factory=set)
    done_above: set[int] = field(default_factory=set)  # durable, but above a pending offset
    next_commit: int | None = None   # offset to commit (the next one to read after a restart)
    committed: int | None = None
    highest_seen: int = -1


class OffsetTracker:
    """Records are `track`ed when fetched and `done` when durable, in any order.

    `committable()` gives, per partition, one past the highest offset below which everything is
    durable: a crash after committing that offset can only replay records already stored (and the
    inbox deduplicates them), never skip one.
    """

    def __init__(self) -> None:
        self._parts: dict[Hashable, _Partition] = {}

    def track(self, tp: Hashable, offset: int) -> None:
        part = self._parts.setdefault(tp, _Partition())
        part.pending.add(offset)
        part.highest_seen = max(part.highest_seen, offset)

    def done(self, tp: Hashable, offset: int) -> None:
        part = self._parts.get(tp)
        if part is None or offset not in part.pending:
            return
        part.pending.discard(offset)
        part.done_above.add(offset)
        floor = min(part.pending) if part.pending else None
        # Advance over everything durable below the lowest pending offset.
        limit = floor if floor is not None else part.highest_seen + 1
        below = [o for o in part.done_above if o < limit]
        if below:
            part.next_commit = max(max(below) + 1, part.next_commit or 0)
            part.done_above.difference_update(below)

    def committable(self) -> dict[Hashable, int]:
        """Partitions whose commit point moved since the last `mark_committed`."""
        return {tp: p.next_commit for tp, p in self._parts.items()
                if p.next_commit is not None and p.next_commit != p.committed}

    def mark_committed(self, offsets: dict[Hashable, int]) -> None:
        for tp, offset in offsets.items():
            if tp in self._parts:
                self._parts[tp].committed = offset

    def durable_point(self, tp: Hashable) -> int | None:
        """One past the highest offset below which every record of `tp` is durable."""
        part = self._parts.get(tp)
        return part.next_commit if part else None

    def pending(self, tp: Hashable | None = None) -> int:
        if tp is not None:
            part = self._parts.get(tp)
            return len(part.pending) if part else 0
        return sum(len(p.pending) for p in self._parts.values())

    def forget(self, tps: list[Hashable]) -> None:
        """Drop partitions this daemon no longer owns (after a revoke)."""
        for tp in tps:
            self._parts.pop(tp, None)
