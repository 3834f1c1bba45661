"""Stock this daemon has routed but Heartland doesn't show as committed yet.

A pending Heartland order commits nothing, so between routing an order's lines and opening it,
Heartland's `qty_available` still counts those units. Two orders routed in that window would both
take the last unit. The ledger holds each order's routed units until Heartland shows them, and keeps
a released reservation visible to any inventory read that started before the release.
"""
from __future__ import annotations

from collections.abc import Hashable, Mapping
from dataclasses import dataclass, field


@dataclass
class _Released:
    seq: int
    units: dict[tuple[int, int], int]


@dataclass(frozen=True, slots=True)
class StockRead:
    seq: int
    released_before: dict[tuple[int, int], int]   # _released_total when the read began


@dataclass
class ReservationLedger:
    _seq: int = 0
    _active: dict[Hashable, dict[tuple[int, int], int]] = field(default_factory=dict)
    _released: list[_Released] = field(default_factory=list)
    _reads: dict[int, int] = field(default_factory=dict)  # read seq -> readers in flight
    # Running totals for `view`: units held now, and units ever released, by (item, location).
    _held_total: dict[tuple[int, int], int] = field(default_factory=dict)
    _released_total: dict[tuple[int, int], int] = field(default_factory=dict)

    def begin_read(self) -> int:
        """Call before fetching inventory; pass the result to `available` and then `end_read`."""
        self._reads[self._seq] = self._reads.get(self._seq, 0) + 1
        return self._seq

    def end_read(self, seq: int) -> None:
        count = self._reads.get(seq, 0) - 1
        if count <= 0:
            self._reads.pop(seq, None)
        else:
            self._reads[seq] = count
        self._prune()

    def available(self, stock: Mapping[tuple[int, int], int], read_seq: int,
                  owner: Hashable) -> dict[tuple[int, int], int]:
        """Heartland's availability as read at `read_seq`, less what other orders hold."""
        out = dict(stock)
        held: list[Mapping[tuple[int, int], int]] = [u for o, u in self._active.items() if o != owner]
        held += [r.units for r in self._released if r.seq > read_seq]
        for units in held:
            for key, qty in units.items():
                if key in out:
                    out[key] -= qty
        return out

    def open_read(self) -> StockRead:
        """Call before fetching inventory; `view` then gives what its owner may route, exactly,
        for as long as the read is kept (a run reads stock before it creates the order and routes
        lines several steps later). `close_read` when done."""
        return StockRead(self.begin_read(), dict(self._released_total))

    def close_read(self, read: StockRead) -> None:
        self.end_read(read.seq)

    def view(self, stock: Mapping[tuple[int, int], int], read: StockRead) -> dict[tuple[int, int], int]:
        """The read, less every unit held (others' and the reader's own), less what was released
        since the read (Heartland's numbers didn't count it yet). Costs the size of the read."""
        out = {}
        for key, qty in stock.items():
            released = self._released_total.get(key, 0) - read.released_before.get(key, 0)
            out[key] = qty - self._held_total.get(key, 0) - released
        return out

    def reserve(self, owner: Hashable, units: Mapping[tuple[int, int], int]) -> None:
        mine = self._active.setdefault(owner, {})
        for key, qty in units.items():
            if qty > 0:
                mine[key] = mine.get(key, 0) + qty
                self._held_total[key] = self._held_total.get(key, 0) + qty

    def release(self, owner: Hashable) -> None:
        """Heartland now counts this order's units itself (open, invoiced or cancelled)."""
        units = self._active.pop(owner, None)
        if units:
            for key, qty in units.items():
                self._held_total[key] -= qty
                if not self._held_total[key]:
                    del self._held_total[key]
                self._released_total[key] = self._released_total.get(key, 0) + qty
            self._seq += 1
            self._released.append(_Released(self._seq, units))
            self._prune()

    def held(self, owner: Hashable) -> dict[tuple[int, int], int]:
        return dict(self._active.get(owner, {}))

    def _prune(self) -> None:
        oldest = min(self._reads) if self._reads else self._seq
        self._released = [r for r in self._released if r.seq > oldest]
