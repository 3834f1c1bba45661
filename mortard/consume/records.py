"""From a Kafka record to an inbox event, or a clear reason why the record can't be taken in."""
from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Mapping, Sequence

from mortard.store.events import InboxEvent
from mortard.store.inbox import DeadLetter
from mortard.ingest.contract import (
    CONSUMED_TOPICS,
    MAX_ORDER_ID,
    OrderIdError,
    HEADER_EVENT_ID,
    HEADER_SHOP,
    HEADER_TOPIC,
    HEADER_TRIGGERED_AT,
    HEADER_WEBHOOK_ID,
    order_id_of,
)

if TYPE_CHECKING:
    from aiokafka import ConsumerRecord

# Snapshots carry the whole order; the other topics patch parts of it.
SNAPSHOT_TOPICS = frozenset({"orders/create", "orders/updated", "orders/paid", "orders/cancelled"})


class MalformedRecord(Exception):
    """A record that can't be taken in. `reason` is a short code for metrics and the DLQ table."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


def parse_record(*, kafka_topic: str, partition: int, offset: int, value: bytes | None,
                 headers: Sequence[tuple[str, bytes]], known_shops: Mapping[str, Any] | set[str]) -> InboxEvent:
    head = _headers(headers)
    topic = head.get(HEADER_TOPIC)
    shop = head.get(HEADER_SHOP)
    if not topic:
        raise MalformedRecord("missing_header", f"record has no {HEADER_TOPIC} header")
    if not shop:
        raise MalformedRecord("missing_header", f"record has no {HEADER_SHOP} header")
    if topic not in CONSUMED_TOPICS:
        raise MalformedRecord("unsupported_topic", f"topic {topic!r} is not one mortard consumes")
    if shop not in known_shops:
        raise MalformedRecord("unknown_shop", f"shop {shop!r} is not configured")
    if value is None:
        raise MalformedRecord("empty_value", "record has no value")
    try:
        raw = value.decode("utf-8")
        payload = json.loads(raw)
    except UnicodeDecodeError as exc:
        raise MalformedRecord("invalid_utf8", f"value is not UTF-8: {exc.reason} at byte {exc.start}") from None
    except (ValueError, RecursionError) as exc:  # JSONDecodeError, and ints over 4300 digits
        raise MalformedRecord("not_json", f"value is not JSON: {str(exc)[:200]}") from None
    if not isinstance(payload, dict):
        raise MalformedRecord("not_json_object", f"value is JSON {type(payload).__name__}, not an object")
    try:
        order_id = order_id_of(topic, payload)
    except OrderIdError as exc:
        raise MalformedRecord("no_order_id", str(exc)) from None

    webhook_id = head.get(HEADER_WEBHOOK_ID)
    event_id = head.get(HEADER_EVENT_ID)
    if webhook_id:
        dedupe_key = f"webhook:{webhook_id}"
    elif event_id:
        dedupe_key = f"event:{topic}:{event_id}"
    else:
        dedupe_key = f"kafka:{kafka_topic}:{partition}:{offset}"

    snapshot = snapshot_updated_at = order_name = None
    refunds: dict[str, Any] = {}
    transactions: dict[str, Any] = {}
    if topic in SNAPSHOT_TOPICS:
        snapshot = payload
        snapshot_updated_at = _timestamp(payload.get("updated_at"), "updated_at")
        name = payload.get("name")
        order_name = name if isinstance(name, str) else None
        refunds_in = payload.get("refunds")
        for refund in refunds_in if isinstance(refunds_in, list) else []:
            if isinstance(refund, dict) and _is_id(refund.get("id")):
                refunds[str(refund["id"])] = refund
    elif topic == "refunds/create":
        if not _is_id(payload.get("id")):
            raise MalformedRecord("invalid_payload", "refund has no numeric id")
        refunds[str(payload["id"])] = payload
    elif topic == "order_transactions/create":
        if not _is_id(payload.get("id")):
            raise MalformedRecord("invalid_payload", "transaction has no numeric id")
        transactions[str(payload["id"])] = payload

    return InboxEvent(
        shop=shop, order_id=order_id, topic=topic, dedupe_key=dedupe_key, webhook_id=webhook_id,
        event_id=event_id, triggered_at=_timestamp_or_none(head.get(HEADER_TRIGGERED_AT)),
        kafka_topic=kafka_topic, kafka_partition=partition, kafka_offset=offset, payload=payload, raw=raw,
        snapshot=snapshot, snapshot_updated_at=snapshot_updated_at, order_name=order_name,
        refunds=refunds, transactions=transactions,
    )


def _headers(headers: Sequence[tuple[str, bytes]]) -> dict[str, str]:
    out: dict[str, str] = {}
    for name, raw in headers or ():
        try:
            out[name.lower()] = raw.decode("utf-8") if raw is not None else ""
        except (UnicodeDecodeError, AttributeError):
            raise MalformedRecord("invalid_header", f"header {name!r} is not UTF-8 text") from None
    return out


def _is_id(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 < value <= MAX_ORDER_ID


def _timestamp(value: Any, field: str) -> datetime:
    parsed = _timestamp_or_none(value)
    if parsed is None:
        raise MalformedRecord("invalid_payload", f"{field} is missing or not an ISO-8601 timestamp")
    return parsed


def _timestamp_or_none(value: Any) -> datetime | None:
    if not isinstance(value, str) or len(value) > 64:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    try:
        return parsed.astimezone(timezone.utc)
    except OverflowError:  # year 1 or 9999 with an offset
        return None


#: The header `mortard dlq replay` puts on a record it sends back: the id of its dead letter.
HEADER_REPLAY_OF = "mortard-replay-of"

_MAX_BIGINT = 2**63 - 1


def replay_of(headers: Sequence[tuple[str, bytes]] | None) -> int | None:
    """The dead letter id a replayed record names in `mortard-replay-of` (the last such header);
    None when there is none or it is not a plausible id (the store then checks it exists)."""
    found = None
    for name, raw in headers or ():
        if isinstance(name, str) and name.lower() == HEADER_REPLAY_OF:
            found = raw
    try:
        text = bytes(found).decode("ascii").strip() if found is not None else ""
    except (UnicodeDecodeError, TypeError):
        return None
    if not text.isdigit() or len(text) > 19:
        return None
    value = int(text)
    return value if 0 < value <= _MAX_BIGINT else None


def dead_letter_of(r: ConsumerRecord, reason: str, detail: str) -> DeadLetter:
    """The dead letter of a record the consumer cannot take in, with its coordinates and why (and,
    for a record a replay sent, the dead letter it came from)."""
    headers = list(r.headers or ())
    return DeadLetter(kafka_topic=r.topic, kafka_partition=r.partition, kafka_offset=r.offset, key=r.key,
                      value=r.value, headers=headers, reason=reason, detail=detail, replay_of=replay_of(headers))


def dead_letter_headers(d: DeadLetter) -> list[tuple[str, bytes]]:
    """The record's own headers and why it is on the dead-letter topic, and where it came from."""
    return list(d.headers or ()) + [
        ("mortard-dlq-reason", d.reason.encode()), ("mortard-dlq-detail", d.detail[:500].encode()),
        ("mortard-source", f"{d.kafka_topic}/{d.kafka_partition}/{d.kafka_offset}".encode())]
