"""What happens to an order after it was placed (edits, refunds, cancellations, duplicates, deliveries out
of order), the malformed deliveries of the day, and the timeline that puts them all in order.
"""
from __future__ import annotations

import json
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from mortard.demo.day import Delivery, ShopCatalog
from mortard.testing.shopify import T0, LineSpec, OrderSpec, order_payload, refund_payload


@dataclass
class Timeline:
    events: list[tuple[float, int, dict[str, Any]]] = field(default_factory=list)
    n: int = 0

    def add(self, at: float, **delivery: Any) -> None:
        self.n += 1
        self.events.append((at, self.n, delivery))


def follow_ups(rng: random.Random, tl: Timeline, shape: str, cat: ShopCatalog, spec: OrderSpec, at: float,
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


def add_malformed(rng: random.Random, tl: Timeline, catalogs: Sequence[ShopCatalog], day: float, n: int) -> None:
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


def to_deliveries(rng: random.Random, tl: Timeline, seed: int) -> list[Delivery]:
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

