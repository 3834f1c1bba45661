"""Choosing ship-from locations for order lines, from stock and the shop's routing rules. Pure."""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from mortard.sync.model import Catalog, Location
from mortard.sync.settings import ShopSettings


@dataclass(frozen=True, slots=True)
class LineDemand:
    key: int                 # Shopify line id
    item_id: int
    qty: int
    tracked: bool = True     # False: non-inventory item, ships from anywhere
    shopify_location_id: int | None = None


@dataclass(frozen=True, slots=True)
class Allocation:
    key: int
    location_id: int | None  # None = undistributed (no stock anywhere allowed)
    qty: int


def allowed_locations(settings: ShopSettings, catalog: Catalog, tags: Sequence[str]) -> list[Location]:
    """Ship-from candidates in preference order, narrowed by the order's tags."""
    if settings.location_priority:
        ordered = [catalog.locations[p] for p in settings.location_priority if p in catalog.locations]
    else:
        ordered = [loc for pid, loc in sorted(catalog.locations.items())
                   if pid != settings.source_location and pid != settings.backorder_location]
    for tag in tags:
        only = settings.tag_locations.get(tag)
        if only is not None:
            ordered = [loc for loc in ordered if loc.public_id in only]
    return ordered


def route(demands: Sequence[LineDemand], stock: Mapping[tuple[int, int], int], candidates: Sequence[Location],
          settings: ShopSettings, catalog: Catalog, order_location_id: int | None = None) -> list[Allocation]:
    """Allocate every demanded unit to a location with stock, or to the backorder location, or to None."""
    left = dict(stock)
    ids = [loc.id for loc in candidates]

    def preference(d: LineDemand) -> list[int]:
        if settings.routing == "shopify_location":
            shopify_loc = d.shopify_location_id or order_location_id
            mapped = settings.shopify_location_map.get(str(shopify_loc)) if shopify_loc else None
            if mapped in catalog.locations and catalog.locations[mapped].id in ids:
                first = catalog.locations[mapped].id
                return [first] + [i for i in ids if i != first]
        return ids

    def available(item_id: int, loc: int) -> int:
        return max(0, left.get((item_id, loc), 0))

    # One location that can fill the whole order beats a split shipment.
    if settings.prefer_single_location and demands and ids:
        prefs = preference(demands[0])
        for loc in prefs:
            need: dict[int, int] = {}
            for d in demands:
                if d.tracked:
                    need[d.item_id] = need.get(d.item_id, 0) + d.qty
            if all(available(item, loc) >= qty for item, qty in need.items()):
                return [Allocation(d.key, loc, d.qty) for d in demands]

    backorder = catalog.locations.get(settings.backorder_location or "")
    out: list[Allocation] = []
    for d in demands:
        prefs = preference(d)
        if not d.tracked:
            out.append(Allocation(d.key, prefs[0] if prefs else None, d.qty))
            continue
        remaining = d.qty
        for loc in prefs:
            have = available(d.item_id, loc)
            if have <= 0 or (not settings.allow_split and have < remaining):
                continue
            take = min(have, remaining)
            out.append(Allocation(d.key, loc, take))
            left[(d.item_id, loc)] = have - take
            remaining -= take
            if remaining == 0:
                break
        if remaining:
            out.append(Allocation(d.key, backorder.id if backorder else None, remaining))
    return _merge(out)


def _merge(allocs: list[Allocation]) -> list[Allocation]:
    merged: dict[tuple[int, int | None], int] = {}
    for a in allocs:
        merged[(a.key, a.location_id)] = merged.get((a.key, a.location_id), 0) + a.qty
    return [Allocation(k, loc, q) for (k, loc), q in merged.items()]
