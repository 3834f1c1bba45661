"""Per-account facts the planner routes and pays with: locations, payment types, items, and stock."""
from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Mapping


@dataclass(frozen=True, slots=True)
class Location:
    id: int
    public_id: str
    name: str
    station_id: int | None


@dataclass(frozen=True, slots=True)
class Catalog:
    """Per-account facts that rarely change: cached, never fetched per order."""

    locations: dict[str, Location] = field(default_factory=dict)   # by public_id
    payment_types: dict[str, int] = field(default_factory=dict)     # name -> id
    required_custom_fields: tuple[str, ...] = ()

    def location_by_id(self, location_id: int) -> Location | None:
        for loc in self.locations.values():
            if loc.id == location_id:
                return loc
        return None


@dataclass(frozen=True, slots=True)
class Item:
    id: int
    sku: str
    price: Decimal
    track_inventory: bool = True


# Stock available to route: (item_id, location_id) -> qty_available (already net of this daemon's
# in-flight reservations).
Stock = Mapping[tuple[int, int], int]

