"""An accepted Shopify event as the inbox stores it (built by `consume.records.parse_record`)."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any


@dataclass(frozen=True, slots=True)
class InboxEvent:
    shop: str
    order_id: int
    topic: str
    dedupe_key: str
    webhook_id: str | None
    event_id: str | None
    triggered_at: datetime | None
    kafka_topic: str
    kafka_partition: int
    kafka_offset: int
    payload: dict[str, Any]
    raw: str                       # the body as received (valid JSON), stored without re-encoding
    # orders/* snapshot and its updated_at; None for refunds and transactions.
    snapshot: dict[str, Any] | None
    snapshot_updated_at: datetime | None
    order_name: str | None
    refunds: dict[str, Any]        # refund id -> refund, merged into the order
    transactions: dict[str, Any]   # transaction id -> transaction
