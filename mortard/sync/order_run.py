"""What one claimed order's run holds while the machine works it (`sync/machine.py`): the row as
loaded, its journal, the stock it read, the buyer it found, and the reads it sent off ahead (the
buyer search with the first read, a new order's stock read beside its creation: `sync/overlap.py`),
which the run waits for when it needs them and cancels when it ends without them."""
from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from mortard.sync.journal import RunJournal
from mortard.sync.ports import FoundCustomer
from mortard.sync.reservations import StockRead


@dataclass
class OrderRun:
    """One claimed order being worked: its row as loaded, and its journal."""

    row: Any    # mortard.store.orders.OrderRow
    journal: RunJournal
    # Stock as read from Heartland, and the ledger's mark of when: the view stays exact when lines
    # are routed steps after the read (ReservationLedger.view).
    stock_read: tuple[dict[tuple[int, int], int], StockRead] | None = None
    # The buyer as searched (memory key), the customer found or recalled, their known addresses, and
    # whether they came from the customer memory rather than Heartland.
    buyer_key: str | None = None
    buyer: tuple[int, tuple[tuple[int, dict[str, Any]], ...]] | None = None
    recalled: bool = False
    forgot: bool = False    # the memory was wrong once this run: search Heartland from now on
    # A new order's buyer search, started with its first read (items, stock) instead of after them.
    search: tuple[tuple[str, str], asyncio.Task[FoundCustomer]] | None = None
    # A new order's stock read, out while its customer and order are created; it sets `stock_read`.
    stocking: asyncio.Task[None] | None = None

    async def stock_in(self) -> None:
        """Wait for the stock read that is out (raising what it raised)."""
        task, self.stocking = self.stocking, None
        assert task is not None, "no stock read is out"
        await task

    async def end_reads(self) -> None:
        """Cancel the reads sent off ahead that the run did not wait for."""
        tasks = [t for t in (self.search[1] if self.search else None, self.stocking) if t is not None]
        self.search = self.stocking = None
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
