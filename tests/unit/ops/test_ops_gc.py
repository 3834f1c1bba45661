"""settle_gc: once the daemon has started, young collections every GC_YOUNG_THRESHOLD net allocations
and what start built frozen out of the collector's scans (ops/startup.py)."""
from __future__ import annotations

import gc

from mortard.ops.startup import GC_YOUNG_THRESHOLD, settle_gc


def test_settle_gc_raises_the_young_threshold_keeps_the_older_ones_and_freezes_the_heap() -> None:
    before = gc.get_threshold()
    try:
        long_lived = [{"account": i} for i in range(100)]
        settle_gc()
        assert gc.get_threshold() == (GC_YOUNG_THRESHOLD, before[1], before[2])
        assert gc.get_freeze_count() >= len(long_lived)
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)


def test_a_cycle_made_after_settling_is_still_collected() -> None:
    before = gc.get_threshold()
    try:
        settle_gc()

        class Node:
            pass

        a, b = Node(), Node()
        a.other, b.other = b, a   # type: ignore[attr-defined]
        del a, b
        assert gc.collect() >= 2
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)
