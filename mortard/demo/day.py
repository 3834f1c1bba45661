"""What a Shopify day is made of: the shops' catalogs, the orders planned, and each delivery (one HTTP
POST to the ingest endpoint) with what ingest and the consumer should answer.
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal


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

