"""The worker loop: which orders run, when, and how many at once.

Orders come from two sources: the fast path (an event just landed in the inbox: `on_due`) and a
sweeper (retries whose time has come, leases a crashed daemon left behind), under a global bound
served round-robin across Heartland accounts (`FairSlots`). Each runs in `OrderMachine.run` until
it converges or must wait; a run that saw new events meanwhile goes again.
"""
from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import structlog

from mortard.sync.machine import OrderMachine
from mortard.sync.ports import OrderStore

log = structlog.get_logger(__name__)

CANCEL_WAIT_S = 1.0   # how long cancelled runs get to unwind at the end of a drain


class Scheduler:
    """Runs due orders: the fast path from the consumer and a sweeper for retries and lost leases."""

    def __init__(self, machine: OrderMachine, store: OrderStore, account_of: Callable[[str], str], *,
                 slots: Any, sweep_interval_s: float = 1.0, max_waiting: int = 5000,
                 outage_log: Any = None) -> None:
        self._machine = machine
        self._store = store
        self._account_of = account_of
        self._slots = slots     # mortard.heartland.limits.FairSlots
        self._sweep_interval = sweep_interval_s
        self._max_waiting = max_waiting
        self._active: set[tuple[str, int]] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._stopping = asyncio.Event()
        self._sweeper: asyncio.Task[None] | None = None
        self.last_progress = time.monotonic()
        # Postgres away: one line per failure class and interval, not a traceback every sweep
        # (mortard.ops.throttled_log.ThrottledLog, given by the daemon; None logs each failure).
        self.outage_log = outage_log

    @property
    def in_flight(self) -> int:
        return len(self._active)

    def start(self) -> None:
        self._sweeper = asyncio.create_task(self._sweep_loop(), name="sync-sweeper")

    def on_due(self, shop: str, order_id: int) -> None:
        """Called by the consumer once an event is durable in the inbox."""
        if self._stopping.is_set() or (shop, order_id) in self._active or len(self._active) >= self._max_waiting:
            return  # already running (it will see the new event) or the sweeper will pick it up
        self._spawn(shop, order_id, claimed=False)

    def _spawn(self, shop: str, order_id: int, *, claimed: bool) -> None:
        self._active.add((shop, order_id))
        task = asyncio.create_task(self._run(shop, order_id, claimed))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run(self, shop: str, order_id: int, claimed: bool) -> None:
        try:
            async with self._slots.slot(self._account_of(shop)):
                if self._stopping.is_set():
                    if claimed:
                        await self._store.release(shop, order_id)
                    return
                row = None
                if not claimed and (row := await self._store.claim_one(shop, order_id)) is None:
                    return
                again = True
                while again and not self._stopping.is_set():
                    again = await self._machine.run(shop, order_id, row)
                    self.last_progress = time.monotonic()
                    if again and (row := await self._store.claim_one(shop, order_id)) is None:
                        break
        except Exception as exc:
            if not self._throttled("order_run_failed", exc):
                log.exception("order_run_crashed", shop=shop, order_id=order_id)
            try:
                await self._store.release(shop, order_id)
            except Exception as exc2:
                if not self._throttled("lease_release_failed", exc2):
                    log.exception("lease_release_failed", shop=shop, order_id=order_id)
        finally:
            self._active.discard((shop, order_id))

    def _throttled(self, event: str, exc: BaseException) -> bool:
        return self.outage_log is not None and self.outage_log.handles(event, exc)

    async def _sweep_loop(self) -> None:
        while not self._stopping.is_set():
            try:
                room = self._max_waiting - len(self._active)
                for shop, order_id in await self._store.claim_due(min(room, 200)):
                    if (shop, order_id) in self._active:
                        continue
                    self._spawn(shop, order_id, claimed=True)
                if self.outage_log is not None:
                    self.outage_log.recovered("sweep")
            except Exception as exc:
                if not self._throttled("sweep_failed", exc):
                    log.exception("sweep_failed")
            try:
                await asyncio.wait_for(self._stopping.wait(), self._sweep_interval)
            except asyncio.TimeoutError:
                pass

    async def drain(self, timeout: float) -> int:
        """Stop taking orders; wait for those in flight. Returns how many were still running."""
        self._stopping.set()
        if self._sweeper is not None:
            self._sweeper.cancel()
            await asyncio.gather(self._sweeper, return_exceptions=True)
        pending = list(self._tasks)
        if pending:
            done, still = await asyncio.wait(pending, timeout=timeout)
            for t in still:
                t.cancel()
            # Bounded too: a run that swallows its cancel (3.11's wait_for can) is left behind.
            ended, _ = await asyncio.wait(still, timeout=CANCEL_WAIT_S)
            for t in ended:
                t.cancelled() or t.exception()   # retrieved: nobody else will look
            return len(still)
        return 0
