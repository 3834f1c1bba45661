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


@dataclass
class ReservationLedger:
    _seq: int = 0
    _active: dict[Hashable, dict[tuple[int, int], int]] = field(default_factory=dict)
    _released: list[_Released] = field(default_factory=list)
    _reads: dict[int, int] = field(default_factory=dict)  # read seq -> readers in flight

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

    def view(self, stock: Mapping[tuple[int, int], int], read_seq: int, owner: Hashable) -> dict[tuple[int, int], int]:
        """What `owner` may still route, from a read it holds open (`begin_read` .. `end_read`): the
        read, less what others hold, less what was released since the read (Heartland's numbers
        didn't count it yet), less what `owner` itself holds. Exact however long ago the read was,
        so a run can read stock before it creates the order and route lines several steps later."""
        out = self.available(stock, read_seq, owner)
        for key, qty in self._active.get(owner, {}).items():
            if key in out:
                out[key] -= qty
        return out

    def reserve(self, owner: Hashable, units: Mapping[tuple[int, int], int]) -> None:
        mine = self._active.setdefault(owner, {})
        for key, qty in units.items():
            if qty > 0:
                mine[key] = mine.get(key, 0) + qty

    def release(self, owner: Hashable) -> None:
        """Heartland now counts this order's units itself (open, invoiced or cancelled)."""
        units = self._active.pop(owner, None)
        if units:
            self._seq += 1
            self._released.append(_Released(self._seq, units))
            self._prune()

    def held(self, owner: Hashable) -> dict[tuple[int, int], int]:
        return dict(self._active.get(owner, {}))

    def _prune(self) -> None:
        oldest = min(self._reads) if self._reads else self._seq
        self._released = [r for r in self._released if r.seq > oldest]
