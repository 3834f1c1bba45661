"""Shopify webhook receiver: HMAC check, then the raw body to Kafka (see `contract` for the record)."""
from __future__ import annotations

from mortard.ingest.app import WEBHOOK_PATH, create_ingest_app
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
    ORDER_ID_FIELDS,
    RECORD_HEADERS,
    OrderIdError,
    order_id_of,
    parse_record_key,
    record_headers,
    record_key,
)
from mortard.ingest.hmac import shop_secrets, sign, verify
from mortard.ingest.producer import KafkaSink, RecordSink, SinkUnavailable
from mortard.ingest.service import run_ingest

__all__ = [
    "CONSUMED_TOPICS", "HEADER_API_VERSION", "HEADER_EVENT_ID", "HEADER_SHOP", "HEADER_SHOP_DOMAIN",
    "HEADER_TOPIC", "HEADER_TRIGGERED_AT", "HEADER_WEBHOOK_ID", "MAX_ORDER_ID", "ORDER_ID_FIELDS",
    "RECORD_HEADERS", "WEBHOOK_PATH", "KafkaSink", "OrderIdError", "RecordSink", "SinkUnavailable",
    "create_ingest_app", "order_id_of", "parse_record_key", "record_headers", "record_key",
    "run_ingest", "shop_secrets", "sign", "verify",
]
