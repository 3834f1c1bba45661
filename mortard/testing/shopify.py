"""Realistic Shopify webhook payloads, for the demo, the tests and the benchmarks.

Shapes follow Shopify's REST order resource (shared/docs/shopify-events.md §6–7): string amounts,
`discount_allocations` per line, `tax_lines`, `shipping_lines`, `refunds` with `refund_line_items`,
`transactions` and `order_adjustments`.
"""
from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

CENT = Decimal("0.01")
T0 = datetime(2026, 11, 27, 14, 0, tzinfo=timezone.utc)


def _m(d: Decimal) -> str:
    return str(d.quantize(CENT, rounding=ROUND_HALF_EVEN))


@dataclass
class LineSpec:
    sku: str
    qty: int
    price: Decimal
    discount: Decimal = Decimal("0.00")
    title: str = ""


@dataclass
class OrderSpec:
    order_id: int
    number: int
    lines: list[LineSpec]
    shipping: Decimal = Decimal("0.00")
    tax_rate: Decimal = Decimal("0.08")
    email: str = "pat.buyer@example.com"
    first_name: str = "Pat"
    last_name: str = "Buyer"
    gateway: str = "shopify_payments"
    addresses: str = "both"          # both | billing | shipping | none
    tags: list[str] = field(default_factory=list)
    test: bool = False
    note_attributes: dict[str, str] = field(default_factory=dict)
    paid: bool = True

    @property
    def name(self) -> str:
        return f"#{self.number}"


def _address(spec: OrderSpec) -> dict[str, Any]:
    return {"first_name": spec.first_name, "last_name": spec.last_name, "address1": "12 Market St",
            "address2": "", "city": "Springfield", "province": "Illinois", "province_code": "IL",
            "zip": "62701", "country": "United States", "country_code": "US", "phone": "+12175550100"}


def order_payload(spec: OrderSpec, *, updated_at: datetime | None = None,
                  refunds: list[dict[str, Any]] | None = None, cancelled: bool = False,
                  quantities: dict[str, int] | None = None) -> dict[str, Any]:
    """An orders/* payload. `quantities` (sku -> current quantity) models edits and refunds."""
    created = T0 + timedelta(seconds=spec.order_id % 86_400)
    updated = updated_at or created
    line_items = []
    subtotal = Decimal("0.00")
    tax_total = Decimal("0.00")
    current_subtotal = Decimal("0.00")
    current_tax = Decimal("0.00")
    for i, ln in enumerate(spec.lines):
        line_id = spec.order_id * 100 + i + 1
        value = ln.price * ln.qty - ln.discount
        tax = (value * spec.tax_rate).quantize(CENT, rounding=ROUND_HALF_EVEN)
        current = (quantities or {}).get(ln.sku, ln.qty)
        # As Shopify keeps it: what is current is what was charged less what refunds gave back (their
        # own rounded cents), and units removed without a refund (edits) at the same rounding.
        refunded = [rl for r in refunds or [] for rl in r.get("refund_line_items", []) if rl["line_item_id"] == line_id]
        edited = max(0, ln.qty - current - sum(rl["quantity"] for rl in refunded))
        edited_value = (value / ln.qty * edited).quantize(CENT) if ln.qty else Decimal("0.00")
        current_value = value - sum((Decimal(rl["subtotal"]) for rl in refunded), Decimal("0.00")) - edited_value
        current_tax += tax - sum((Decimal(rl["total_tax"]) for rl in refunded), Decimal("0.00")) - (
            edited_value * spec.tax_rate).quantize(CENT, rounding=ROUND_HALF_EVEN)
        subtotal += value
        current_subtotal += current_value
        tax_total += tax
        line_items.append({
            "id": line_id, "admin_graphql_api_id": f"gid://shopify/LineItem/{line_id}",
            "variant_id": 40_000_000 + i, "product_id": 70_000_000 + i, "sku": ln.sku,
            "title": ln.title or f"Item {ln.sku}", "name": ln.title or f"Item {ln.sku}", "quantity": ln.qty,
            "current_quantity": current, "fulfillable_quantity": current, "price": _m(ln.price),
            "total_discount": _m(ln.discount), "taxable": True, "requires_shipping": True, "gift_card": False,
            "discount_allocations": ([{"amount": _m(ln.discount), "discount_application_index": 0}]
                                     if ln.discount else []),
            "tax_lines": [{"title": "State Tax", "rate": str(spec.tax_rate), "price": _m(tax)}],
            "properties": [], "product_exists": True, "fulfillment_status": None,
        })
    total = subtotal + tax_total + spec.shipping
    refunded = sum((Decimal(t["amount"]) for r in refunds or [] for t in r.get("transactions", [])), Decimal("0"))
    current_total = current_subtotal + current_tax + spec.shipping - sum(
        (Decimal(a["amount"]) * -1 for r in refunds or [] for a in r.get("order_adjustments", [])
         if a.get("kind") == "shipping_refund"), Decimal("0"))
    addr = _address(spec)
    payload: dict[str, Any] = {
        "id": spec.order_id, "admin_graphql_api_id": f"gid://shopify/Order/{spec.order_id}",
        "name": spec.name, "order_number": spec.number, "number": spec.number - 1000,
        "email": spec.email, "contact_email": spec.email, "phone": None,
        "created_at": created.isoformat(), "processed_at": created.isoformat(), "updated_at": updated.isoformat(),
        "cancelled_at": updated.isoformat() if cancelled else None, "cancel_reason": "customer" if cancelled else None,
        "closed_at": None, "currency": "USD", "presentment_currency": "USD", "test": spec.test,
        "financial_status": ("refunded" if refunded and refunded >= total else
                             "partially_refunded" if refunded else "paid") if spec.paid else "pending",
        "fulfillment_status": None, "taxes_included": False, "tax_exempt": False,
        "total_price": _m(total), "subtotal_price": _m(subtotal), "total_tax": _m(tax_total),
        "total_discounts": _m(sum((ln.discount for ln in spec.lines), Decimal("0"))),
        "total_line_items_price": _m(sum((ln.price * ln.qty for ln in spec.lines), Decimal("0"))),
        "total_outstanding": "0.00" if spec.paid else _m(total),
        "current_total_price": _m(current_total), "current_subtotal_price": _m(current_subtotal),
        "current_total_tax": _m(current_tax),
        "current_shipping_price_set": {"shop_money": {"amount": _m(spec.shipping), "currency_code": "USD"}},
        "shipping_lines": ([{"id": spec.order_id, "title": "Standard", "price": _m(spec.shipping),
                             "discounted_price": _m(spec.shipping), "code": "STANDARD", "tax_lines": []}]
                           if spec.shipping else []),
        "tax_lines": [{"title": "State Tax", "rate": str(spec.tax_rate), "price": _m(tax_total)}],
        "payment_gateway_names": [spec.gateway], "tags": ", ".join(spec.tags),
        "note": None, "note_attributes": [{"name": k, "value": v} for k, v in spec.note_attributes.items()],
        "source_name": "web", "location_id": None, "line_items": line_items,
        "customer": {"id": 6_000_000 + spec.order_id % 1000, "email": spec.email, "first_name": spec.first_name,
                     "last_name": spec.last_name, "phone": None},
        "billing_address": addr if spec.addresses in ("both", "billing") else None,
        "shipping_address": addr if spec.addresses in ("both", "shipping") else None,
        "refunds": refunds or [], "fulfillments": [],
    }
    return payload


def refund_payload(spec: OrderSpec, refund_id: int, lines: dict[str, tuple[int, str]], *,
                   amount: Decimal | None = None, shipping: Decimal = Decimal("0.00"),
                   created_at: datetime | None = None) -> dict[str, Any]:
    """A refunds/create payload. `lines`: sku -> (quantity, restock_type)."""
    items = []
    money = Decimal("0.00")
    for i, ln in enumerate(spec.lines):
        if ln.sku not in lines:
            continue
        qty, restock = lines[ln.sku]
        unit_value = (ln.price * ln.qty - ln.discount) / ln.qty
        sub = (unit_value * qty).quantize(CENT)
        tax = (sub * spec.tax_rate).quantize(CENT, rounding=ROUND_HALF_EVEN)
        money += sub + tax
        items.append({"id": refund_id * 10 + i, "line_item_id": spec.order_id * 100 + i + 1, "quantity": qty,
                      "restock_type": restock, "location_id": None, "subtotal": _m(sub), "total_tax": _m(tax)})
    money += shipping
    when = created_at or (T0 + timedelta(hours=2))
    return {
        "id": refund_id, "admin_graphql_api_id": f"gid://shopify/Refund/{refund_id}", "order_id": spec.order_id,
        "created_at": when.isoformat(), "processed_at": when.isoformat(), "note": None, "restock": True,
        "refund_line_items": items,
        "transactions": [{"id": refund_id + 1, "order_id": spec.order_id, "kind": "refund", "status": "success",
                          "amount": _m(amount if amount is not None else money), "gateway": spec.gateway,
                          "currency": "USD"}],
        "order_adjustments": ([{"id": refund_id + 2, "kind": "shipping_refund", "amount": _m(-shipping),
                                "tax_amount": "0.00"}] if shipping else []),
    }


@dataclass(frozen=True)
class Webhook:
    """One delivery: topic, shop, body bytes and the Shopify headers (as Kafka record headers)."""

    topic: str
    shop: str
    order_id: int
    body: bytes
    webhook_id: str

    def kafka_headers(self, triggered_at: datetime | None = None) -> list[tuple[str, bytes]]:
        when = (triggered_at or datetime.now(timezone.utc)).isoformat()
        return [("shopify-topic", self.topic.encode()), ("shopify-shop-domain", self.shop.encode()),
                ("shopify-webhook-id", self.webhook_id.encode()), ("shopify-event-id", self.webhook_id.encode()),
                ("shopify-triggered-at", when.encode()), ("shopify-api-version", b"2026-10")]

    def http_headers(self, secret: str) -> dict[str, str]:
        from mortard.ingest.hmac import sign
        return {"X-Shopify-Topic": self.topic, "X-Shopify-Shop-Domain": self.shop,
                "X-Shopify-Webhook-Id": self.webhook_id, "X-Shopify-Event-Id": self.webhook_id,
                "X-Shopify-Triggered-At": datetime.now(timezone.utc).isoformat(),
                "X-Shopify-API-Version": "2026-10", "X-Shopify-Hmac-Sha256": sign(self.body, secret),
                "Content-Type": "application/json"}

    @property
    def key(self) -> bytes:
        return f"{self.shop}/{self.order_id}".encode()


def webhook(topic: str, shop: str, payload: dict[str, Any], webhook_id: str | None = None) -> Webhook:
    order_id = payload["order_id"] if topic.startswith(("refunds/", "order_transactions/")) else payload["id"]
    return Webhook(topic, shop, int(order_id), json.dumps(payload).encode(), webhook_id or str(uuid.uuid4()))
