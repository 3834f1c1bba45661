"""Reads of orders in flight are folded: one in flight, the callers meanwhile answered by the next."""
from __future__ import annotations

import asyncio

import pytest

from mortard.heartland.coalesce import Coalescer


async def _turns(n: int = 5) -> None:
    for _ in range(n):
        await asyncio.sleep(0)


class _Reads:
    def __init__(self) -> None:
        self.calls: list[list[int]] = []
        self.gate = asyncio.Event()
        self.fail: Exception | None = None

    async def __call__(self, keys: list[int]) -> dict[int, str]:
        self.calls.append(list(keys))
        await self.gate.wait()
        if self.fail is not None:
            raise self.fail
        return {k: f"v{k}" for k in keys if k != 99}


async def test_a_lone_caller_is_read_at_once_and_gets_only_its_keys():
    reads = _Reads()
    reads.gate.set()
    c = Coalescer(reads)
    assert await c.get([1, 2, 99]) == {1: "v1", 2: "v2"}
    assert reads.calls == [[1, 2, 99]]


async def test_callers_arriving_while_a_read_is_out_share_the_next_read_and_never_the_older_one():
    reads = _Reads()
    c = Coalescer(reads)
    first = asyncio.create_task(c.get([1]))
    await _turns()
    assert reads.calls == [[1]]
    later = [asyncio.create_task(c.get([k, 1])) for k in (2, 3, 4)]
    await _turns()
    assert reads.calls == [[1]]          # nobody joins the read that left before they asked
    reads.gate.set()
    assert await first == {1: "v1"}
    assert [await t for t in later] == [{2: "v2", 1: "v1"}, {3: "v3", 1: "v1"}, {4: "v4", 1: "v1"}]
    assert reads.calls == [[1], [1, 2, 3, 4]] and c.reads == 2


async def test_a_failed_read_fails_each_of_its_callers_and_the_next_read_still_goes():
    reads = _Reads()
    c = Coalescer(reads)
    reads.fail = RuntimeError("503")
    tasks = [asyncio.create_task(c.get([k])) for k in (1, 2)]
    await _turns()
    assert reads.calls == [[1, 2]]   # asked in the same turn: one read
    reads.gate.set()
    for t in tasks:
        with pytest.raises(RuntimeError, match="503"):
            await t
    reads.fail = None
    assert await c.get([5]) == {5: "v5"}


async def test_a_cancelled_caller_does_not_stop_the_others():
    reads = _Reads()
    c = Coalescer(reads)
    first = asyncio.create_task(c.get([1]))
    await _turns()
    gone, stays = asyncio.create_task(c.get([2])), asyncio.create_task(c.get([3]))
    await _turns()
    gone.cancel()
    reads.gate.set()
    assert await first == {1: "v1"} and await stays == {3: "v3"}
    assert reads.calls == [[1], [3]]
