"""The new orders of the day: how many of each shape, and the lines each shape gets from the shop's
catalog, keeping a book of the stock left so that outcomes stay meaningful.
"""
from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from mortard.demo.day import CatalogItem, ShopCatalog
from mortard.testing.shopify import LineSpec


CENT = Decimal("0.01")


# Special shapes get a share of the orders (at least one each); the rest are everyday orders.
_SPECIAL_SHARES: tuple[tuple[str, float], ...] = (
    ("split", 0.08), ("out_of_stock", 0.08), ("unpaid", 0.05), ("no_address", 0.04),
    ("unknown_sku", 0.04), ("test", 0.03), ("unreadable", 0.02),
)


_EVERYDAY = (("one_line", 5), ("many_lines", 3), ("discounted", 2))


@dataclass
class Stockbook:
    """Units left per (sku, store) after the orders generated so far, so outcomes stay meaningful."""

    left: dict[tuple[str, str], int]

    def take(self, sku: str, store: str, qty: int) -> None:
        self.left[(sku, store)] = self.left.get((sku, store), 0) - qty

    def best_store(self, sku: str, stores: Sequence[str]) -> tuple[str, int]:
        return max(((s, self.left.get((sku, s), 0)) for s in stores), key=lambda p: (p[1], p[0]))


def pick_shapes(rng: random.Random, n: int) -> list[str]:
    special: list[str] = []
    for shape, share in _SPECIAL_SHARES:
        special += [shape] * max(1, round(n * share))
    special = special[: max(0, n - 1)] if n <= len(special) else special
    everyday = [rng.choices([s for s, _ in _EVERYDAY], [w for _, w in _EVERYDAY])[0]
                for _ in range(n - len(special))]
    out = special + everyday
    rng.shuffle(out)
    return out


def _whole_priced(items: Sequence[CatalogItem]) -> list[CatalogItem]:
    # Refunds and edits use items with whole-dollar prices, so Shopify's per-line tax rounding and
    # the refund's come out the same to the cent (as they do for most real catalogs).
    return [it for it in items if it.price == it.price.to_integral_value()]


def _stocked(cat: ShopCatalog, book: Stockbook, qty: int, *, whole: bool = False) -> list[CatalogItem]:
    pool = _whole_priced(cat.items) if whole else list(cat.items)
    return [it for it in pool if book.best_store(it.sku, cat.stores)[1] >= qty + 2]


def _line(it: CatalogItem, qty: int, discount: Decimal = Decimal("0.00")) -> LineSpec:
    return LineSpec(it.sku, qty, it.price, discount, it.description)


def lines_for(rng: random.Random, shape: str, cat: ShopCatalog, book: Stockbook) -> list[LineSpec]:
    def take_stocked(qty: int, exclude: set[str]) -> CatalogItem:
        pool = [it for it in _stocked(cat, book, qty, whole=True) if it.sku not in exclude]
        if not pool:  # a very long day ran the shelves dry: take anything (it may wait for stock)
            pool = [it for it in cat.items if it.sku not in exclude] or list(cat.items)
        it = rng.choice(pool)
        store, _ = book.best_store(it.sku, cat.stores)
        book.take(it.sku, store, qty)
        return it

    if shape == "many_lines":
        picked: set[str] = set()
        lines = []
        for _ in range(rng.randint(3, 6)):
            qty = rng.choice((1, 1, 2))
            it = take_stocked(qty, picked)
            picked.add(it.sku)
            lines.append(_line(it, qty))
        return lines
    if shape == "discounted":
        it = take_stocked(2, set())
        other = take_stocked(1, {it.sku})
        return [_line(it, 2, (it.price * 2 * Decimal("0.15")).quantize(CENT)), _line(other, 1, Decimal("5.00"))
                if other.price > 10 else _line(other, 1)]
    if shape == "split":
        # Two items each stocked in one store only, and not the same store: no single store can
        # fill the order, so it is split and invoiced from two stores.
        singles: dict[str, list[CatalogItem]] = {}
        for it in cat.items:
            where = [s for s in cat.stores if book.left.get((it.sku, s), 0) >= 2]
            if len(where) == 1 and sum(1 for s in cat.stores if it.stock.get(s, 0) > 0) == 1:
                singles.setdefault(where[0], []).append(it)
        stores = sorted(singles)
        if len(stores) >= 2:
            a, b = rng.sample(stores, 2)
            ia, ib = rng.choice(singles[a]), rng.choice(singles[b])
            book.take(ia.sku, a, 1)
            book.take(ib.sku, b, 1)
            return [_line(ia, 1), _line(ib, 1)]
        return [_line(take_stocked(1, set()), 1)]
    if shape == "out_of_stock":
        empty = [it for it in _whole_priced(cat.items) if not any(it.stock.values())]
        it = take_stocked(1, set())
        lines = [_line(it, 1)]
        if empty:
            lines.append(_line(rng.choice(empty), 1))
        return lines
    if shape == "unknown_sku":
        it = take_stocked(1, set())
        return [_line(it, 1), LineSpec(f"WEB-{rng.randint(1000, 9999)}-GIFTWRAP", 1, Decimal("4.00"),
                                       title="Gift wrap (not in Heartland)")]
    qty = rng.choice((1, 1, 2, 2, 3))
    return [_line(take_stocked(qty, set()), qty)]

