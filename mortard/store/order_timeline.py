"""Everything recorded about one order, for `mortard orders show`: its events, Heartland calls,
the documents they made, its state changes and notes, and its lines' Heartland ids.

Each record's fields are the columns in the order `--json` prints them (`dataclasses.asdict`).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from mortard.store.db import Queryable

__all__ = ["DocumentRecord", "EventRecord", "HistoryRecord", "JournalRecord", "LineRecord", "OrderTimeline",
           "load_timeline"]

# Oldest first (by id) in every table. The event payload stays out: the order's snapshot has it.
_EVENTS = """
SELECT id, topic, dedupe_key, webhook_id, event_id, triggered_at, kafka_topic, kafka_partition, kafka_offset,
       stale, received_at
FROM events WHERE shop = $1 AND order_id = $2 ORDER BY id
"""

_JOURNAL = """
SELECT id, action, fingerprint, request, status, heartland_id, http_status, response, error, sent_at, finished_at
FROM journal WHERE shop = $1 AND order_id = $2 ORDER BY id
"""

_DOCUMENTS = """
SELECT id, kind, heartland_id, public_id, location_id, amount, detail, created_at
FROM heartland_documents WHERE shop = $1 AND order_id = $2 ORDER BY id
"""

_HISTORY = """
SELECT id, kind, from_state, to_state, detail, at
FROM order_history WHERE shop = $1 AND order_id = $2 ORDER BY id
"""

_LINES = """
SELECT shopify_line_id, heartland_line_id, item_id, qty, ship_from_location_id
FROM order_lines WHERE shop = $1 AND order_id = $2 ORDER BY heartland_line_id
"""


@dataclass(frozen=True, slots=True)
class EventRecord:
    id: int
    topic: str
    dedupe_key: str
    webhook_id: str | None
    event_id: str | None
    triggered_at: datetime | None
    kafka_topic: str
    kafka_partition: int
    kafka_offset: int
    stale: bool
    received_at: datetime


@dataclass(frozen=True, slots=True)
class JournalRecord:
    id: int
    action: str
    fingerprint: str
    request: dict[str, Any]
    status: str
    heartland_id: int | None
    http_status: int | None
    response: Any
    error: str | None
    sent_at: datetime
    finished_at: datetime | None


@dataclass(frozen=True, slots=True)
class DocumentRecord:
    id: int
    kind: str
    heartland_id: int
    public_id: str | None
    location_id: int | None
    amount: Decimal | None
    detail: dict[str, Any]
    created_at: datetime


@dataclass(frozen=True, slots=True)
class HistoryRecord:
    id: int
    kind: str
    from_state: str | None
    to_state: str | None
    detail: dict[str, Any]
    at: datetime


@dataclass(frozen=True, slots=True)
class LineRecord:
    shopify_line_id: int
    heartland_line_id: int
    item_id: int
    qty: int
    ship_from_location_id: int | None


@dataclass(frozen=True, slots=True)
class OrderTimeline:
    events: tuple[EventRecord, ...]
    journal: tuple[JournalRecord, ...]
    documents: tuple[DocumentRecord, ...]
    history: tuple[HistoryRecord, ...]
    lines: tuple[LineRecord, ...]


async def load_timeline(db: Queryable, shop: str, order_id: int) -> OrderTimeline:
    key = (shop, order_id)
    return OrderTimeline(
        events=tuple(EventRecord(**dict(r)) for r in await db.fetch(_EVENTS, *key)),
        journal=tuple(JournalRecord(**dict(r)) for r in await db.fetch(_JOURNAL, *key)),
        documents=tuple(DocumentRecord(**dict(r)) for r in await db.fetch(_DOCUMENTS, *key)),
        history=tuple(HistoryRecord(**dict(r)) for r in await db.fetch(_HISTORY, *key)),
        lines=tuple(LineRecord(**dict(r)) for r in await db.fetch(_LINES, *key)),
    )
