"""The Kafka message contract between `mortard ingest` (producer) and `consume` (consumer).

One Kafka record per accepted Shopify webhook:

- value   = the webhook body, byte for byte as Shopify sent it (the HMAC was computed over it);
- key     = ``b"<shop domain>/<order id>"``, so every event of one order lands on one partition;
- headers = the Shopify delivery headers, renamed ``X-Shopify-Foo-Bar`` -> ``shopify-foo-bar``
  (only those present), values UTF-8 (anything unencodable becomes "?").

The order id comes from the payload, by topic (`ORDER_ID_FIELDS`).
"""
from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

HEADER_TOPIC = "shopify-topic"
HEADER_SHOP_DOMAIN = "shopify-shop-domain"
HEADER_SHOP = HEADER_SHOP_DOMAIN  # short alias
HEADER_WEBHOOK_ID = "shopify-webhook-id"
HEADER_EVENT_ID = "shopify-event-id"
HEADER_TRIGGERED_AT = "shopify-triggered-at"
HEADER_API_VERSION = "shopify-api-version"

#: Record headers in the order they are written; each comes from HTTP header "X-" + name.
RECORD_HEADERS: tuple[str, ...] = (
    HEADER_TOPIC,
    HEADER_SHOP_DOMAIN,
    HEADER_WEBHOOK_ID,
    HEADER_EVENT_ID,
    HEADER_TRIGGERED_AT,
    HEADER_API_VERSION,
)

#: Where each consumed topic keeps its order id in the payload (a path of object keys).
ORDER_ID_FIELDS: Mapping[str, tuple[str, ...]] = MappingProxyType({
    "orders/create": ("id",),
    "orders/updated": ("id",),
    "orders/paid": ("id",),
    "orders/cancelled": ("id",),
    "orders/edited": ("order_edit", "order_id"),
    "refunds/create": ("order_id",),
    "order_transactions/create": ("order_id",),
})

#: Shopify topics that become Kafka records; ingest answers 200 to any other topic and drops it.
CONSUMED_TOPICS: frozenset[str] = frozenset(ORDER_ID_FIELDS)

#: Order ids are positive and fit a Postgres bigint.
MAX_ORDER_ID = 2**63 - 1


class OrderIdError(ValueError):
    """The payload has no usable order id for its topic (or the topic is not consumed)."""


def order_id_of(topic: str, payload: Any) -> int:
    """The order id of a parsed webhook payload; raises `OrderIdError` and nothing else."""
    path = ORDER_ID_FIELDS.get(topic) if isinstance(topic, str) else None
    if path is None:
        raise OrderIdError(f"topic {topic!r} is not one mortard consumes")
    value: Any = payload
    for name in path:
        if not isinstance(value, Mapping):
            raise OrderIdError(f"{topic} payload has no {'.'.join(path)}")
        value = value.get(name)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= MAX_ORDER_ID:
        raise OrderIdError(f"{topic} payload field {'.'.join(path)} is not a positive integer id")
    return value


def record_key(shop: str, order_id: int) -> bytes:
    """``b"<shop domain>/<order id>"``."""
    return f"{shop}/{order_id}".encode()


def parse_record_key(key: bytes) -> tuple[str, int]:
    """The inverse of `record_key`; raises ValueError on anything else."""
    shop, sep, order = key.decode().rpartition("/")
    if not sep or not shop or not order.isdigit():
        raise ValueError(f"not a mortard record key: {key[:100]!r}")
    return shop, int(order)


def record_headers(request_headers: Mapping[str, str], *, shop: str | None = None) -> list[tuple[str, bytes]]:
    """Kafka record headers from the HTTP headers of a Shopify delivery (names case-insensitive).

    ``X-Shopify-Topic`` becomes ``shopify-topic`` and so on; the unprefixed form Shopify's newer
    Events surface sends (``Shopify-Topic``) is accepted too. `shop`, when given, replaces the
    shop-domain value (ingest passes the configured spelling of the shop it authenticated).
    """
    lowered = {name.lower(): value for name, value in request_headers.items()}
    out: list[tuple[str, bytes]] = []
    for name in RECORD_HEADERS:
        value = lowered.get("x-" + name, lowered.get(name))
        if name == HEADER_SHOP_DOMAIN and shop is not None:
            value = shop
        if value is not None:
            out.append((name, value.encode("utf-8", "replace")))
    return out

