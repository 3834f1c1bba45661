"""A "Shopify day" for the demo: orders of many shapes across two shops, then what happens to them.

`build_scenario(seed, orders, catalogs)` is a pure function: the same seed, order count and catalog
(the sandbox fixture's items and stock) give byte-for-byte the same deliveries, in the same order.
Each `Delivery` is one HTTP POST to the ingest endpoint; the scenario also says what ingest and the
consumer should answer (`expected`), so the demo and its test can check the counts (`day.py`).

Shapes of new orders (`order_shapes.py`): one line, many lines, items split across stores, a line out
of stock everywhere, discounts, shipping, unpaid (→ pending), no address (→ pending), an unknown SKU
(→ pending), a Shopify test order (→ ignored) and a payload mortard cannot read (→ dead).
Follow-ups (`follow_ups.py`): edits (quantities down, then the refund owed), partial and full refunds,
cancellations, duplicates (the same webhook id twice), out-of-order deliveries (an older `updated_at`
after a newer one), and malformed deliveries (bad signature → 401, not JSON → 400, unreadable snapshot
→ dead letter).
"""
from __future__ import annotations

import random
from collections.abc import Sequence
from datetime import timedelta
from decimal import Decimal

from mortard.demo.day import CatalogItem, Delivery, PlannedOrder, Scenario, ShopCatalog
from mortard.demo.follow_ups import Timeline, add_malformed, follow_ups, to_deliveries
from mortard.demo.order_shapes import Stockbook, lines_for, pick_shapes
from mortard.testing.shopify import T0, OrderSpec, order_payload


FIRST_NAMES = ("Ava", "Noah", "Mia", "Liam", "Zoe", "Omar", "Lena", "Kai", "Ines", "Theo", "Priya", "Jonas",
               "Sofia", "Mateo", "Hana", "Felix", "Amara", "Leo", "Nora", "Ravi")


LAST_NAMES = ("Nguyen", "Garcia", "Okafor", "Schmidt", "Rossi", "Kim", "Dubois", "Silva", "Cohen", "Haddad",
              "Novak", "Larsen", "Moreau", "Tanaka", "Murphy", "Costa")


def build_scenario(seed: int, orders: int, catalogs: Sequence[ShopCatalog]) -> Scenario:
    """The day's deliveries, deterministic from (`seed`, `orders`, `catalogs`)."""
    if orders < 1:
        raise ValueError("a Shopify day needs at least one order")
    if not catalogs:
        raise ValueError("no shops to play")
    rng = random.Random(seed)
    shops = {c.shop: c for c in catalogs}
    books = {c.shop: Stockbook({(it.sku, s): n for it in c.items for s, n in it.stock.items()}) for c in catalogs}
    numbers = {c.shop: c.first_number for c in catalogs}
    shapes = pick_shapes(rng, orders)
    timeline = Timeline()
    planned: list[PlannedOrder] = []
    day = 600.0                                   # the day is squeezed into "seconds" of Shopify time
    refund_ids = iter(range(9_100_000 + seed % 1000 * 1000, 10**12, 100))

    for i, shape in enumerate(shapes):
        shop = catalogs[i % len(catalogs)].shop if shape not in ("unpaid",) else catalogs[0].shop
        cat = shops[shop]
        at = day * i / len(shapes) + rng.uniform(0, day / len(shapes) / 2)
        order_id = 5_100_000_000 + seed % 1000 * 100_000 + i * 7 + rng.randrange(7)
        number = numbers[shop]
        numbers[shop] += 1
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        spec = OrderSpec(order_id, number, [], email=f"{first}.{last}{number}@example.com".lower(),
                         first_name=first, last_name=last,
                         shipping=rng.choice((Decimal("0.00"), Decimal("4.95"), Decimal("7.50"), Decimal("12.00"))))
        spec.lines = lines_for(rng, shape, cat, books[shop])
        if shape == "unpaid":
            spec.paid = False
            spec.gateway = "manual"
        elif shape == "no_address":
            spec.addresses = "none"
        elif shape == "test":
            spec.test = True
            spec.gateway = "bogus"
        elif rng.random() < 0.12:
            spec.gateway = "gift_card"
        created = T0 + timedelta(seconds=order_id % 86_400)
        payload = order_payload(spec)
        if shape == "unreadable":
            # A misbehaving app edited the order: a line with quantity 0. Ingest takes it (it is a
            # signed order with an id); the daemon can't sync it and marks the order dead.
            payload["line_items"][0]["quantity"] = 0
            payload["line_items"][0]["current_quantity"] = 0
        timeline.add(at, kind="new order", topic="orders/create", shop=shop, order_id=order_id,
                     payload=payload, note=f"{spec.name} {shape}")
        story = follow_ups(rng, timeline, shape, cat, spec, at, created, refund_ids)
        planned.append(PlannedOrder(shop, order_id, spec.name, shape, tuple(story)))

    add_malformed(rng, timeline, catalogs, day, orders)
    deliveries = to_deliveries(rng, timeline, seed)
    return Scenario(seed, deliveries, planned, shops)


__all__ = ["CatalogItem", "Delivery", "PlannedOrder", "Scenario", "ShopCatalog", "build_scenario"]

