"""Reads of many orders folded into one request: one in flight per kind, and the callers that arrive
meanwhile go together in the next.

Orders in flight on one account each search their buyer (`GET /customers` by e-mail) and read the
stock of their items (`GET /inventory/values`). Both filters take `$in` (heartland-api.md §1), so
the callers waiting while a read is out are answered by one read of all their keys when it returns.
No caller waits for a read that started before it asked (the answer is never older than the ask),
a lone caller goes at once, and under load a backlog of orders costs a handful of reads, not one
each. A failed read fails each of its callers, who handle it as their own.
"""
from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable, Iterable, Mapping
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

LINGER_S = 0.020   # under load, how long a read waits for more callers
MAX_KEYS = 200   # keys per folded read (the client splits its `$in` filters further)


class Coalescer(Generic[K, V]):
    def __init__(self, fetch: Callable[[list[K]], Awaitable[Mapping[K, V]]], *, max_keys: int = MAX_KEYS) -> None:
        self._fetch = fetch
        self._max_keys = max_keys
        self._queue: list[tuple[frozenset[K], asyncio.Future[dict[K, V]]]] = []
        self._drain: asyncio.Task[None] | None = None
        self.reads = 0   # folded reads sent (for tests and benchmarks)
        self._last = 0   # callers the last read served

    async def get(self, keys: Iterable[K]) -> dict[K, V]:
        """What the read answers for these keys (keys it has nothing for are left out)."""
        fut: asyncio.Future[dict[K, V]] = asyncio.get_running_loop().create_future()
        self._queue.append((frozenset(keys), fut))
        if self._drain is None:
            self._drain = asyncio.create_task(self._run())
        return await fut

    async def _run(self) -> None:
        try:
            while self._queue:
                # One turn of the loop first: orders woken by the same answers ask in the same turn.
                # Under load (the last read served several), a little longer, so more go together.
                await asyncio.sleep(LINGER_S if self._last > 1 else 0)
                batch: list[tuple[frozenset[K], asyncio.Future[dict[K, V]]]] = []
                wanted: set[K] = set()
                while self._queue and (not batch or len(wanted | self._queue[0][0]) <= self._max_keys):
                    keys, fut = self._queue.pop(0)
                    if not fut.done():   # a caller cancelled before its read went out
                        batch.append((keys, fut))
                        wanted |= keys
                if not batch:
                    continue
                self.reads += 1
                self._last = len(batch)
                try:
                    found = await self._fetch(sorted(wanted, key=repr))
                except asyncio.CancelledError:
                    for _, fut in batch:
                        fut.cancel()
                    raise
                except Exception as exc:  # each caller gets the failure as its own
                    for _, fut in batch:
                        if not fut.done():
                            fut.set_exception(exc)
                    continue
                for keys, fut in batch:
                    if not fut.done():
                        fut.set_result({k: found[k] for k in keys if k in found})
        finally:
            self._drain = None
            for _, fut in self._queue:   # only when cancelled mid-read (shutdown)
                if not fut.done():
                    fut.cancel()
            self._queue.clear()
