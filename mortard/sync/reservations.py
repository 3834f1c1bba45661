"""Stock this daemon has routed but Heartland doesn't show as committed yet.

A pending Heartland order commits nothing, so between routing an order's lines and opening it,
Heartland's `qty_available` still counts those units. Two orders routed in that window would both
take the last unit. The ledger holds each order's routed units until Heartland shows them, and a
read of Heartland's stock (`open_read`) keeps seeing a reservation released after it began, since
Heartland's answer may predate the commit.

A run reads stock before it creates its order and routes the lines several steps later; `view`
is exact at any point in between, and costs the size of the read: it works from running totals
(units held now, units ever released), not from a history of reservations.
"""
from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping
from dataclasses import dataclass, field

Unit = tuple[int, int]   # (item id, location id)


@dataclass(frozen=True, slots=True)
class StockRead:
    """Releases counted before the read began, for the items it asked for: by item, then location."""

    released_before: dict[int, dict[int, int]]


@dataclass
class ReservationLedger:
    _held: dict[Hashable, dict[Unit, int]] = field(default_factory=dict)
    _held_total: dict[Unit, int] = field(default_factory=dict)
    _released_total: dict[int, dict[int, int]] = field(default_factory=dict)   # item -> location -> units

    def open_read(self, item_ids: Iterable[int]) -> StockRead:
        """Call before asking Heartland for these items' stock; pass the result to `view`."""
        return StockRead({i: dict(self._released_total.get(i, {})) for i in item_ids})

    def view(self, stock: Mapping[Unit, int], read: StockRead) -> dict[Unit, int]:
        """What may still be routed: the read, less every unit held (other orders' and the reader's
        own), less what was released since the read began (Heartland's numbers didn't count it)."""
        out = {}
        for (item, location), qty in stock.items():
            released = (self._released_total.get(item, {}).get(location, 0)
                        - read.released_before.get(item, {}).get(location, 0))
            out[(item, location)] = qty - self._held_total.get((item, location), 0) - released
        return out

    def reserve(self, owner: Hashable, units: Mapping[Unit, int]) -> None:
        mine = self._held.setdefault(owner, {})
        for key, qty in units.items():
            if qty > 0:
                mine[key] = mine.get(key, 0) + qty
                self._held_total[key] = self._held_total.get(key, 0) + qty

    def release(self, owner: Hashable) -> None:
        """Heartland now counts this order's units itself (open, invoiced or cancelled)."""
        for (item, location), qty in self._held.pop(owner, {}).items():
            self._held_total[(item, location)] -= qty
            if not self._held_total[(item, location)]:
                del self._held_total[(item, location)]
            by_location = self._released_total.setdefault(item, {})
            by_location[location] = by_location.get(location, 0) + qty

    def held(self, owner: Hashable) -> dict[Unit, int]:
        return dict(self._held.get(owner, {}))
