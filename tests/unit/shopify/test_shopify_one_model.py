"""One domain model from two sources: an order fetched through the GraphQL Admin API (as the Shopify
sandbox renders it from the stored order) maps to the same `ShopifyOrder` as its webhook body.

Covers every shape the webhook builders (mortard/testing/shopify.py) make and every order of Shopify's
own REST payloads (tests/fixtures/shopify)."""
from __future__ import annotations

import json
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from mortard.shopify import order_from_graphql
from mortard.sync.model import InvalidOrder, ShopifyOrder
from mortard.testing.shopify import T0, LineSpec, OrderSpec, order_payload, refund_payload
from mortard.testing.shopify_graphql import render_order, sale_transaction

D = Decimal
HERE = Path(__file__).resolve().parents[2] / "fixtures" / "shopify"
INDEX = json.loads((HERE / "index.json").read_text())


def _fixture_orders() -> list[Any]:
    out = []
    for e in INDEX:
        if e["resource"] != "order":
            continue
        body = json.loads((HERE / e["file"]).read_text())
        for i, raw in enumerate([body["order"]] if "order" in body else body.get("orders", [])):
            out.append(pytest.param(raw, id=f"{e['file']}[{i}]"))
    return out


def _spec(**kw: Any) -> OrderSpec:
    base: dict[str, Any] = dict(order_id=5_000_123, number=1234,
                                lines=[LineSpec("SKU-A", 2, D("19.99")), LineSpec("SKU-B", 1, D("5.00"), D("1.00"))],
                                shipping=D("7.50"))
    base.update(kw)
    return OrderSpec(**base)


def _builder_shapes() -> list[Any]:
    s = _spec()
    refund = refund_payload(s, 9_001, {"SKU-A": (1, "return")}, created_at=T0 + timedelta(hours=3))
    ship_refund = refund_payload(s, 9_011, {}, shipping=D("7.50"), created_at=T0 + timedelta(hours=4))
    cancel_refund = refund_payload(s, 9_021, {"SKU-A": (2, "cancel"), "SKU-B": (1, "cancel")}, shipping=D("7.50"))
    shapes = {
        "plain": (s, {}),
        "billing_only": (_spec(addresses="billing"), {}),
        "shipping_only": (_spec(addresses="shipping"), {}),
        "no_address": (_spec(addresses="none"), {}),
        "no_shipping": (_spec(shipping=D("0.00")), {}),
        "tagged_test_note": (_spec(tags=["wholesale", "vip"], test=True, note_attributes={"gift": "yes"}), {}),
        "unpaid": (_spec(paid=False), {}),
        "gift_card_gateway": (_spec(gateway="gift_card"), {}),
        "edited_down": (s, {"quantities": {"SKU-A": 1}, "updated_at": T0 + timedelta(hours=1)}),
        "refunded_line": (s, {"refunds": [refund], "quantities": {"SKU-A": 1}}),
        "shipping_refund": (s, {"refunds": [ship_refund]}),
        "two_refunds": (s, {"refunds": [refund, ship_refund], "quantities": {"SKU-A": 1}}),
        "cancelled": (s, {"cancelled": True, "refunds": [cancel_refund], "quantities": {"SKU-A": 0, "SKU-B": 0}}),
    }
    return [pytest.param(spec, kw, id=name) for name, (spec, kw) in shapes.items()]


def _fetched(body: dict[str, Any], transactions: dict[str, Any]) -> ShopifyOrder:
    # Through JSON, as it crosses HTTP.
    node = json.loads(json.dumps(render_order(body, transactions)))
    snapshot, txns = order_from_graphql(node)
    return ShopifyOrder.parse(snapshot, transactions=txns)


@pytest.mark.parametrize("spec,kw", _builder_shapes())
def test_every_builder_shape_parses_the_same_from_graphql_as_from_its_webhook(spec, kw):
    body = order_payload(spec, **kw)
    sale = sale_transaction(body)
    transactions = {str(sale["id"]): sale} if sale else {}
    webhook = ShopifyOrder.parse(body, transactions=transactions)
    assert _fetched(body, transactions) == webhook
    # Shopify lists the sale on the order; with no order_transactions webhook, the model still agrees.
    assert ShopifyOrder.parse(body) == webhook


FIXTURES = _fixture_orders()


@pytest.mark.parametrize("raw", FIXTURES)
def test_every_shopify_fixture_order_parses_the_same_from_graphql(raw):
    try:
        webhook = ShopifyOrder.parse(raw)
    except InvalidOrder as exc:
        with pytest.raises(InvalidOrder):
            _fetched(raw, {})
        assert str(exc)
        return
    assert _fetched(raw, {}) == webhook


def test_the_comparison_can_fail():
    body = order_payload(_spec())
    node = render_order(body, {})
    node["lineItems"]["nodes"][0]["currentQuantity"] = 1
    snapshot, txns = order_from_graphql(node)
    assert ShopifyOrder.parse(snapshot, transactions=txns) != ShopifyOrder.parse(body)
    assert len(FIXTURES) >= 50
