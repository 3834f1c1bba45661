"""Per-account facts that rarely change, read once and cached: locations and stations, payment types,
required custom fields, and item ids by SKU. The benchmark's rule: no read per order for these."""
from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable
from decimal import Decimal
from functools import partial
from typing import Any

from mortard.heartland.client import HeartlandClient
from mortard.heartland.coalesce import Coalescer
from mortard.sync.model import Catalog, Item, Location


class AccountCatalog:
    def __init__(self, client: HeartlandClient, *, payment_type_names: Iterable[str] = (),
                 ttl_s: float = 600.0, item_ttl_s: float = 600.0, missing_item_ttl_s: float = 30.0,
                 item_match: str = "public_id") -> None:
        self._client = client
        self._names = set(payment_type_names)
        self._ttl = ttl_s
        self._item_ttl = item_ttl_s
        self._missing_ttl = missing_item_ttl_s
        self._catalog: Catalog | None = None
        self._loaded_at = 0.0
        self._lock = asyncio.Lock()
        self._items: dict[tuple[str, str], tuple[float, Item | None]] = {}
        self._item_reads: dict[str, Coalescer[str, Item]] = {}

    async def catalog(self, extra_payment_types: Iterable[str] = ()) -> Catalog:
        wanted = set(extra_payment_types) - self._names
        if self._catalog is not None and not wanted and time.monotonic() - self._loaded_at < self._ttl:
            return self._catalog
        async with self._lock:
            self._names |= wanted
            if self._catalog is None or wanted or time.monotonic() - self._loaded_at >= self._ttl:
                self._catalog = await self._load()
                self._loaded_at = time.monotonic()
        return self._catalog

    async def _load(self) -> Catalog:
        # The three reads are independent: out together, so an account's first order waits one round
        # trip for its catalog, not three (each still passes the account's gate like any call).
        reads = await asyncio.gather(
            self._client.list_locations(), self._client.list_payment_types(),
            self._client.list_custom_fields(group_id=self._client.dialect.order_custom_field_group, required=True),
            return_exceptions=True)
        for r in reads:
            if isinstance(r, BaseException):
                raise r
        listed_locations, listed_types, listed_fields = reads
        locations = {}
        for loc in listed_locations:
            stations = loc.get("stations") or []
            locations[str(loc["public_id"])] = Location(int(loc["id"]), str(loc["public_id"]), str(loc.get("name", "")),
                                                        int(stations[0]["id"]) if stations else None)
        types = {str(t["name"]): int(t["id"]) for t in listed_types}
        for name in sorted(self._names - set(types)):
            types[name] = await self._client.create_payment_type(name)
        required = tuple(sorted(str(f["key"]) for f in listed_fields if f.get("required")))
        return Catalog(locations=locations, payment_types=types, required_custom_fields=required)

    async def items(self, skus: Iterable[str], match: str = "public_id") -> dict[str, Item | None]:
        """SKU -> Heartland item (None = no such item), from cache where fresh."""
        now = time.monotonic()
        out: dict[str, Item | None] = {}
        missing = []
        for sku in set(skus):
            cached = self._items.get((match, sku))
            if cached is not None and cached[0] > now:
                out[sku] = cached[1]
            else:
                missing.append(sku)
        if missing:
            reads = self._item_reads.get(match)
            if reads is None:   # orders in flight that miss the same SKUs share one read (coalesce.py)
                reads = self._item_reads[match] = Coalescer(partial(self._read_items, match))
            found = await reads.get(missing)
            now = time.monotonic()
            for sku in missing:
                item = found.get(sku)
                self._items[(match, sku)] = (now + (self._item_ttl if item else self._missing_ttl), item)
                out[sku] = item
        return out

    async def _read_items(self, match: str, skus: list[str]) -> dict[str, Item]:
        if match == "public_id":
            rows = await self._client.find_items(skus)
        else:
            rows = await self._client.find_items_by_custom(match.split("@", 1)[1], skus)
        found: dict[str, Item] = {}
        for r in rows:
            sku = str(r["public_id"]) if match == "public_id" else \
                str((r.get("custom") or {}).get(match.split("@", 1)[1], ""))
            found[sku] = _item(r, sku)
        return found


def _item(r: dict[str, Any], sku: str) -> Item:
    price = r.get("price")
    return Item(int(r["id"]), sku, Decimal(str(price)) if price is not None else Decimal("0.00"),
                bool(r.get("track_inventory", True)))
