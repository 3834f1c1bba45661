"""A "Shopify day" for the demo: orders of many shapes across two shops, then what happens to them.

`build_scenario(seed, orders, catalogs)` is a pure function: the same seed, order count and catalog
(the sandbox fixture's items and stock) give byte-for-byte the same deliveries, in the same order.
Each `Delivery` is one HTTP POST to the ingest endpoint; the scenario also says what ingest and the
consumer should answer (`expected`), so the demo and its test can check the counts.

Shapes of new orders: one line, many lines, items split across stores, a line out of stock
everywhere, discounts, shipping, unpaid (→ pending), no address (→ pending), an unknown SKU
(→ pending), a Shopify test order (→ ignored) and a payload mortard cannot read (→ dead).
Follow-ups: edits (quantities down, then the refund owed), partial and full refunds, cancellations,
duplicates (the same webhook id twice), out-of-order deliveries (an older `updated_at` after a newer
one), and malformed deliveries (bad signature → 401, not JSON → 400, unreadable snapshot → dead letter).
"""
from __future__ import annotations

import json
import random
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from mortard.testing.shopify import T0, LineSpec, OrderSpec, order_payload, refund_payload

CENT = Decimal("0.01")

FIRST_NAMES = ("Ava", "Noah", "Mia", "Liam", "Zoe", "Omar", "Lena", "Kai", "Ines", "Theo", "Priya", "Jonas",
               "Sofia", "Mateo", "Hana", "Felix", "Amara", "Leo", "Nora", "Ravi")
LAST_NAMES = ("Nguyen", "Garcia", "Okafor", "Schmidt", "Rossi", "Kim", "Dubois", "Silva", "Cohen", "Haddad",
              "Novak", "Larsen", "Moreau", "Tanaka", "Murphy", "Costa")


@dataclass(frozen=True)
class CatalogItem:
    sku: str
    description: str
    price: Decimal
    stock: Mapping[str, int]          # store public_id -> on hand (stores only, not the source location)


@dataclass(frozen=True)
class ShopCatalog:
    """What one shop sells, as its Heartland account (the sandbox fixture) has it."""

    shop: str
    account: str
    stores: tuple[str, ...]
    items: tuple[CatalogItem, ...]    # active, inventory-tracked items only
    auto_invoice: bool = True
    first_number: int = 1001


@dataclass(frozen=True)
class Delivery:
    """One webhook POST. `expect_status` is what ingest should answer; `expect_dead_letter` is True
    when ingest accepts it but the consumer cannot take it in."""

    seq: int
    kind: str
    topic: str
    shop: str
    order_id: int | None
    body: bytes
    webhook_id: str
    signature_ok: bool = True
    expect_status: int = 200
    expect_dead_letter: bool = False
    triggered_at: str = ""
    note: str = ""

    def headers(self, secret: str) -> dict[str, str]:
        from mortard.ingest.hmac import sign
        signature = sign(self.body, secret if self.signature_ok else secret + "-wrong")
        return {"X-Shopify-Topic": self.topic, "X-Shopify-Shop-Domain": self.shop,
                "X-Shopify-Webhook-Id": self.webhook_id, "X-Shopify-Event-Id": self.webhook_id,
                "X-Shopify-Triggered-At": self.triggered_at, "X-Shopify-API-Version": "2026-10",
                "X-Shopify-Hmac-Sha256": signature, "Content-Type": "application/json"}


@dataclass(frozen=True)
class PlannedOrder:
    shop: str
    order_id: int
    name: str
    shape: str
    story: tuple[str, ...]            # what happens to it after it was placed


@dataclass
class Scenario:
    seed: int
    deliveries: list[Delivery]
    orders: list[PlannedOrder]
    shops: dict[str, ShopCatalog]

    @property
    def expected_statuses(self) -> dict[int, int]:
        return dict(sorted(Counter(d.expect_status for d in self.deliveries).items()))

    @property
    def expected_dead_letters(self) -> int:
        return sum(1 for d in self.deliveries if d.expect_dead_letter)

    @property
    def expected_events(self) -> int:
        """Distinct webhooks the consumer should store in the inbox (duplicates collapse)."""
        return len({(d.shop, d.webhook_id) for d in self.deliveries
                    if d.expect_status == 200 and not d.expect_dead_letter})

    @property
    def kinds(self) -> dict[str, int]:
        return dict(sorted(Counter(d.kind for d in self.deliveries).items()))

    @property
    def shapes(self) -> dict[str, int]:
        return dict(sorted(Counter(o.shape for o in self.orders).items()))


# -- the generator ----------------------------------------------------------------------------------

# Special shapes get a share of the orders (at least one each); the rest are everyday orders.
_SPECIAL_SHARES: tuple[tuple[str, float], ...] = (
    ("split", 0.08), ("out_of_stock", 0.08), ("unpaid", 0.05), ("no_address", 0.04),
    ("unknown_sku", 0.04), ("test", 0.03), ("unreadable", 0.02),
)
_EVERYDAY = (("one_line", 5), ("many_lines", 3), ("discounted", 2))


@dataclass
class _Stockbook:
    """Units left per (sku, store) after the orders generated so far, so outcomes stay meaningful."""

    left: dict[tuple[str, str], int]

    def take(self, sku: str, store: str, qty: int) -> None:
        self.left[(sku, store)] = self.left.get((sku, store), 0) - qty

    def best_store(self, sku: str, stores: Sequence[str]) -> tuple[str, int]:
        return max(((s, self.left.get((sku, s), 0)) for s in stores), key=lambda p: (p[1], p[0]))


@dataclass
class _Timeline:
    events: list[tuple[float, int, dict[str, Any]]] = field(default_factory=list)
    n: int = 0

    def add(self, at: float, **delivery: Any) -> None:
        self.n += 1
        self.events.append((at, self.n, delivery))


def build_scenario(seed: int, orders: int, catalogs: Sequence[ShopCatalog]) -> Scenario:
    """The day's deliveries, deterministic from (`seed`, `orders`, `catalogs`)."""
    if orders < 1:
        raise ValueError("a Shopify day needs at least one order")
    if not catalogs:
        raise ValueError("no shops to play")
    rng = random.Random(seed)
    shops = {c.shop: c for c in catalogs}
    books = {c.shop: _Stockbook({(it.sku, s): n for it in c.items for s, n in it.stock.items()}) for c in catalogs}
    numbers = {c.shop: c.first_number for c in catalogs}
    shapes = _shapes(rng, orders)
    timeline = _Timeline()
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
        spec.lines = _lines(rng, shape, cat, books[shop])
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
        story = _follow_ups(rng, timeline, shape, cat, spec, at, created, refund_ids)
        planned.append(PlannedOrder(shop, order_id, spec.name, shape, tuple(story)))

    _malformed(rng, timeline, catalogs, day, orders)
    deliveries = _deliveries(rng, timeline, seed)
    return Scenario(seed, deliveries, planned, shops)


def _shapes(rng: random.Random, n: int) -> list[str]:
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


def _stocked(cat: ShopCatalog, book: _Stockbook, qty: int, *, whole: bool = False) -> list[CatalogItem]:
    pool = _whole_priced(cat.items) if whole else list(cat.items)
    return [it for it in pool if book.best_store(it.sku, cat.stores)[1] >= qty + 2]


def _line(it: CatalogItem, qty: int, discount: Decimal = Decimal("0.00")) -> LineSpec:
    return LineSpec(it.sku, qty, it.price, discount, it.description)


def _lines(rng: random.Random, shape: str, cat: ShopCatalog, book: _Stockbook) -> list[LineSpec]:
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


def _follow_ups(rng: random.Random, tl: _Timeline, shape: str, cat: ShopCatalog, spec: OrderSpec, at: float,
                created: datetime, refund_ids: Any) -> list[str]:
    """Schedule what happens to an order after it is placed; returns the story in words."""
    story: list[str] = []
    shop, oid = cat.shop, spec.order_id
    clock = [created]

    def later(minutes: float) -> datetime:
        clock[0] = clock[0] + timedelta(minutes=minutes)
        return clock[0]

    def send(delay: float, kind: str, topic: str, payload: dict[str, Any], **kw: Any) -> None:
        tl.add(at + delay, kind=kind, topic=topic, shop=shop, order_id=oid, payload=payload, **kw)

    roll = rng.random()
    if rng.random() < 0.15:
        story.append("delivered twice")
        tl.add(at + rng.uniform(0.5, 3), kind="duplicate", topic="orders/create", shop=shop, order_id=oid,
               duplicate_of=tl.n)
    if shape in ("test", "unreadable", "unknown_sku", "no_address"):
        return story
    if shape == "unpaid":
        if roll < 0.6:
            send(rng.uniform(20, 60), "cancellation", "orders/cancelled",
                 order_payload(spec, cancelled=True, updated_at=later(90)))
            story.append("never paid, cancelled")
        return story
    editable = [ln for ln in spec.lines if ln.qty >= 2 and not ln.discount]
    refundable = [ln for ln in spec.lines if not ln.discount and ln.sku in {it.sku for it in cat.items}]
    if not cat.auto_invoice:
        # Orders stay open in Heartland until staff invoice them: edits and cancellations land on them.
        if editable and roll < 0.3:
            ln = rng.choice(editable)
            quantities = {ln.sku: ln.qty - 1}
            t_edit = later(30)
            send(rng.uniform(15, 40), "edit", "orders/updated", order_payload(spec, quantities=quantities,
                                                                           updated_at=t_edit))
            refund = refund_payload(spec, next(refund_ids), {ln.sku: (1, "cancel")}, created_at=later(5))
            send(rng.uniform(45, 70), "refund", "refunds/create", refund)
            send(rng.uniform(46, 72), "edit", "orders/updated",
                 order_payload(spec, quantities=quantities, refunds=[refund], updated_at=later(1)))
            story.append(f"edited: one {ln.sku} removed and refunded")
            if rng.random() < 0.6:
                # Shopify retries an older delivery after the newer ones: mortard must keep the newer.
                send(rng.uniform(75, 90), "out of order", "orders/updated",
                     order_payload(spec, updated_at=t_edit - timedelta(minutes=10)))
                story.append("an older snapshot arrived late")
        elif refundable and roll < 0.3:
            _partial_refund(rng, spec, refundable, send, later, refund_ids, story)
        elif roll < 0.42:
            send(rng.uniform(20, 60), "cancellation", "orders/cancelled",
                 order_payload(spec, cancelled=True, updated_at=later(120)))
            story.append("cancelled by the customer")
        elif refundable and roll < 0.55:
            _partial_refund(rng, spec, refundable, send, later, refund_ids, story)
        return story
    if shape == "out_of_stock" and len(spec.lines) > 1 and roll < 0.5:
        missing = spec.lines[-1]
        refund = refund_payload(spec, next(refund_ids), {missing.sku: (missing.qty, "cancel")}, created_at=later(60))
        send(rng.uniform(40, 80), "refund", "refunds/create", refund)
        send(rng.uniform(41, 82), "refund", "orders/updated",
             order_payload(spec, quantities={missing.sku: 0}, refunds=[refund], updated_at=later(1)))
        story.append("the out-of-stock item was refunded")
        return story
    if refundable and roll < 0.2:
        _partial_refund(rng, spec, refundable, send, later, refund_ids, story)
    elif roll < 0.3 and all(not ln.discount for ln in spec.lines):
        lines = {ln.sku: (ln.qty, "return") for ln in spec.lines}
        refund = refund_payload(spec, next(refund_ids), lines, shipping=spec.shipping, created_at=later(240))
        send(rng.uniform(60, 120), "refund", "refunds/create", refund)
        send(rng.uniform(61, 122), "refund", "orders/updated",
             order_payload(spec, quantities={ln.sku: 0 for ln in spec.lines}, refunds=[refund], updated_at=later(1)))
        story.append("returned in full")
    return story


def _partial_refund(rng: random.Random, spec: OrderSpec, refundable: list[LineSpec], send: Any, later: Any,
                    refund_ids: Any, story: list[str]) -> None:
    ln = rng.choice(refundable)
    refund = refund_payload(spec, next(refund_ids), {ln.sku: (1, "return")}, created_at=later(180))
    send(rng.uniform(50, 110), "refund", "refunds/create", refund)
    send(rng.uniform(51, 112), "refund", "orders/updated",
         order_payload(spec, quantities={ln.sku: ln.qty - 1}, refunds=[refund], updated_at=later(1)))
    story.append(f"one {ln.sku} returned")
    if rng.random() < 0.4:
        # The original snapshot, redelivered after the refund's newer one: it must not undo the refund.
        send(rng.uniform(115, 130), "out of order", "orders/updated", order_payload(spec, updated_at=later(-30)))
        story.append("an older snapshot arrived late")


def _malformed(rng: random.Random, tl: _Timeline, catalogs: Sequence[ShopCatalog], day: float, n: int) -> None:
    shop = catalogs[-1].shop
    bad = max(1, n // 30)
    for k in range(bad):
        oid = 5_999_000_000 + k
        spec = OrderSpec(oid, 9000 + k, [LineSpec("SKU-0001", 1, Decimal("10.00"))])
        # Signed with the wrong secret (a forged or misconfigured sender): 401, never reaches Kafka.
        tl.add(rng.uniform(0, day), kind="bad signature", topic="orders/create", shop=shop, order_id=oid,
               payload=order_payload(spec), signature_ok=False, expect_status=401)
        # Cut off mid-body: not JSON, 400.
        tl.add(rng.uniform(0, day), kind="not json", topic="orders/updated", shop=shop, order_id=oid,
               raw=json.dumps(order_payload(spec)).encode()[:57], expect_status=400)
    # A signed snapshot with an id but no readable updated_at: ingest takes it, the consumer can't order
    # it against other snapshots, so it goes to the dead-letter topic (and table).
    tl.add(rng.uniform(0, day), kind="unreadable snapshot", topic="orders/updated", shop=shop,
           order_id=5_999_500_000, payload={"id": 5_999_500_000, "name": "#9999", "updated_at": "yesterday"},
           expect_dead_letter=True)


def _deliveries(rng: random.Random, tl: _Timeline, seed: int) -> list[Delivery]:
    by_n: dict[int, Delivery] = {}
    out: list[Delivery] = []
    ids = random.Random(f"{seed}:webhook-ids")
    for at, n, d in sorted(tl.events, key=lambda e: (e[0], e[1])):
        triggered = (T0 + timedelta(seconds=at * 10)).isoformat()
        if "duplicate_of" in d:
            orig = by_n[d["duplicate_of"]]
            delivery = Delivery(len(out) + 1, "duplicate", orig.topic, orig.shop, orig.order_id, orig.body,
                                orig.webhook_id, triggered_at=orig.triggered_at, note="same webhook id again")
        else:
            body = d["raw"] if "raw" in d else json.dumps(d["payload"]).encode()
            webhook_id = "%08x-%04x-4%03x-a%03x-%012x" % (ids.getrandbits(32), ids.getrandbits(16),
                                                          ids.getrandbits(12), ids.getrandbits(12),
                                                          ids.getrandbits(48))
            delivery = Delivery(len(out) + 1, d["kind"], d["topic"], d["shop"], d["order_id"], body, webhook_id,
                                signature_ok=d.get("signature_ok", True),
                                expect_status=d.get("expect_status", 200),
                                expect_dead_letter=d.get("expect_dead_letter", False),
                                triggered_at=triggered, note=d.get("note", ""))
        by_n[n] = delivery
        out.append(delivery)
    return out


__all__ = ["CatalogItem", "Delivery", "PlannedOrder", "Scenario", "ShopCatalog", "build_scenario"]
