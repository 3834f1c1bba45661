"""Kafka → the Postgres inbox: the consumer, its offset bookkeeping, record parsing and topics."""
from mortard.consume.consumer import InboxConsumer
from mortard.consume.offsets import OffsetTracker
from mortard.consume.records import MalformedRecord, parse_record
from mortard.consume.topics import create_topic, ensure_topics

__all__ = ["InboxConsumer", "MalformedRecord", "OffsetTracker", "create_topic", "ensure_topics", "parse_record"]
