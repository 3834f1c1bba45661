from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from multidict import CIMultiDict

from mortard.ingest.contract import (
    CONSUMED_TOPICS,
    HEADER_API_VERSION,
    HEADER_EVENT_ID,
    HEADER_SHOP,
    HEADER_SHOP_DOMAIN,
    HEADER_TOPIC,
    HEADER_TRIGGERED_AT,
    HEADER_WEBHOOK_ID,
    MAX_ORDER_ID,
    OrderIdError,
    order_id_of,
    parse_record_key,
    record_headers,
    record_key,
)


def test_header_names_are_the_documented_ones() -> None:
    assert (HEADER_TOPIC, HEADER_SHOP_DOMAIN, HEADER_WEBHOOK_ID, HEADER_EVENT_ID, HEADER_TRIGGERED_AT,
            HEADER_API_VERSION) == ("shopify-topic", "shopify-shop-domain", "shopify-webhook-id",
                                    "shopify-event-id", "shopify-triggered-at", "shopify-api-version")
    assert HEADER_SHOP == HEADER_SHOP_DOMAIN


def test_consumed_topics() -> None:
    assert CONSUMED_TOPICS == {"orders/create", "orders/updated", "orders/edited", "orders/paid",
                               "orders/cancelled", "refunds/create", "order_transactions/create"}


@pytest.mark.parametrize(("topic", "payload"), [
    ("orders/create", {"id": 42, "order_id": 7}),
    ("orders/updated", {"id": 42}),
    ("orders/paid", {"id": 42}),
    ("orders/cancelled", {"id": 42}),
    ("orders/edited", {"order_edit": {"id": 9, "order_id": 42}}),
    ("refunds/create", {"id": 9, "order_id": 42}),
    ("order_transactions/create", {"id": 9, "order_id": 42}),
])
def test_order_id_field_per_topic(topic: str, payload: dict[str, Any]) -> None:
    assert order_id_of(topic, payload) == 42


@pytest.mark.parametrize(("topic", "payload"), [
    ("orders/create", {"order_id": 42}),                 # wrong field for the topic
    ("refunds/create", {"id": 42}),
    ("order_transactions/create", {"id": 42}),
    ("orders/edited", {"id": 42, "order_id": 42}),       # must be inside order_edit
    ("orders/edited", {"order_edit": [42]}),
    ("orders/create", {"id": 0}),
    ("orders/create", {"id": -5}),
    ("orders/create", {"id": True}),
    ("orders/create", {"id": "42"}),
    ("orders/create", {"id": 42.0}),
    ("orders/create", {"id": None}),
    ("orders/create", {"id": MAX_ORDER_ID + 1}),
    ("orders/create", [{"id": 42}]),
    ("orders/create", "42"),
    ("orders/delete", {"id": 42}),                       # not a consumed topic
])
def test_order_id_rejects_unusable_payloads(topic: str, payload: Any) -> None:
    with pytest.raises(OrderIdError):
        order_id_of(topic, payload)


def test_order_id_accepts_the_largest_bigint() -> None:
    assert order_id_of("orders/create", {"id": MAX_ORDER_ID}) == MAX_ORDER_ID


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=8),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.sampled_from(["id", "order_id", "order_edit", "x"]) | st.text(max_size=4),
                      children, max_size=4),
    max_leaves=20,
)


@settings(deadline=None, max_examples=300)
@given(topic=st.sampled_from(sorted(CONSUMED_TOPICS)) | st.text(max_size=20) | st.none() | st.integers(),
       payload=_json)
def test_order_id_of_never_raises_anything_but_its_own_error(topic: Any, payload: Any) -> None:
    try:
        order_id = order_id_of(topic, payload)
    except OrderIdError:
        return
    assert type(order_id) is int and 0 < order_id <= MAX_ORDER_ID


def test_record_key_round_trips() -> None:
    key = record_key("shop-a.myshopify.com", 820982911946154508)
    assert key == b"shop-a.myshopify.com/820982911946154508"
    assert parse_record_key(key) == ("shop-a.myshopify.com", 820982911946154508)
    with pytest.raises(ValueError):
        parse_record_key(b"no-slash")


def test_record_headers_copies_only_present_shopify_headers_case_insensitively() -> None:
    http = CIMultiDict({
        "x-shopify-topic": "orders/create",
        "X-SHOPIFY-SHOP-DOMAIN": "shop-a.myshopify.com",
        "X-Shopify-Webhook-Id": "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043",
        "X-Shopify-Triggered-At": "2026-11-28T10:00:00.123Z",
        "X-Shopify-Hmac-Sha256": "c2VjcmV0",
        "X-Shopify-Name": "mine",
        "Content-Type": "application/json",
    })
    assert record_headers(http) == [
        ("shopify-topic", b"orders/create"),
        ("shopify-shop-domain", b"shop-a.myshopify.com"),
        ("shopify-webhook-id", b"b54557e4-bdd9-4b37-8a5f-bf7d70bcd043"),
        ("shopify-triggered-at", b"2026-11-28T10:00:00.123Z"),
    ]


def test_record_headers_from_a_plain_dict_and_all_six() -> None:
    http = {"X-Shopify-Topic": "refunds/create", "X-Shopify-Shop-Domain": "Shop-A.myshopify.com",
            "X-Shopify-Webhook-Id": "w1", "X-Shopify-Event-Id": "e1",
            "X-Shopify-Triggered-At": "t", "X-Shopify-API-Version": "2025-10"}
    headers = dict(record_headers(http, shop="shop-a.myshopify.com"))
    assert headers == {"shopify-topic": b"refunds/create", "shopify-shop-domain": b"shop-a.myshopify.com",
                       "shopify-webhook-id": b"w1", "shopify-event-id": b"e1",
                       "shopify-triggered-at": b"t", "shopify-api-version": b"2025-10"}


def test_record_headers_accepts_the_unprefixed_events_form_and_keeps_values_utf8() -> None:
    headers = record_headers({"Shopify-Topic": "orders/paid", "Shopify-Webhook-Id": "\udcff\u00e9"})
    assert headers == [("shopify-topic", b"orders/paid"), ("shopify-webhook-id", "?\u00e9".encode())]
