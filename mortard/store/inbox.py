"""The inbox: every consumed record lands here in one short transaction before its offset commits."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import asyncpg

from mortard.store.dead_letters import encode_headers
from mortard.store.events import InboxEvent
from mortard.store.db import RawJson

# One statement per event: store the event once (dedupe on webhook/event id or Kafka coordinates),
# merge the order's newest snapshot (an older updated_at never overwrites a newer one), merge refunds
# and transactions by id, and mark the order due. Returns whether the event was new.
_INBOX_SQL = """
WITH prior AS (
    SELECT snapshot_updated_at FROM orders WHERE shop = $1 AND order_id = $2
), ev AS (
    INSERT INTO events (shop, order_id, topic, dedupe_key, webhook_id, event_id, triggered_at,
                        kafka_topic, kafka_partition, kafka_offset, payload, stale)
    SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11,
           coalesce((SELECT snapshot_updated_at > $13 FROM prior), false)
    ON CONFLICT (shop, dedupe_key) DO NOTHING
    RETURNING id
), up AS (
    INSERT INTO orders AS o (shop, order_id, order_name, snapshot, snapshot_updated_at, refunds,
                             transactions, due_seq, first_event_at)
    SELECT $1, $2, $14, $12, $13, $15, $16, 1, now() FROM ev
    ON CONFLICT (shop, order_id) DO UPDATE SET
        snapshot = CASE WHEN excluded.snapshot IS NOT NULL AND (o.snapshot_updated_at IS NULL
                          OR excluded.snapshot_updated_at >= o.snapshot_updated_at)
                        THEN excluded.snapshot ELSE o.snapshot END,
        snapshot_updated_at = CASE WHEN excluded.snapshot IS NOT NULL AND (o.snapshot_updated_at IS NULL
                          OR excluded.snapshot_updated_at >= o.snapshot_updated_at)
                        THEN excluded.snapshot_updated_at ELSE o.snapshot_updated_at END,
        order_name = coalesce(o.order_name, excluded.order_name),
        refunds = o.refunds || excluded.refunds,
        transactions = o.transactions || excluded.transactions,
        due_seq = o.due_seq + 1,
        updated_at = now()
    RETURNING 1
)
SELECT (SELECT count(*) FROM ev) AS new_events
"""

# $9: the dead letter a replay sent this record from (`mortard-replay-of`), kept only if it exists.
_DEAD_LETTER_SQL = """
INSERT INTO dead_letters (kafka_topic, kafka_partition, kafka_offset, key, value, headers, reason, detail, replay_of)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, (SELECT id FROM dead_letters WHERE id = $9::bigint))
ON CONFLICT (kafka_topic, kafka_partition, kafka_offset) DO NOTHING
"""


@dataclass(frozen=True, slots=True)
class DeadLetter:
    kafka_topic: str
    kafka_partition: int
    kafka_offset: int
    key: bytes | None
    value: bytes | None
    headers: Sequence[tuple[str, bytes]]
    reason: str
    detail: str
    replay_of: int | None = None     # the `mortard-replay-of` header's id, if the record came from a replay


async def write_batch(conn: asyncpg.Connection, events: Sequence[InboxEvent],
                      dead: Sequence[DeadLetter] = ()) -> list[bool]:
    """Store a batch in one transaction; returns, per event, whether it was new (not a duplicate)."""
    new: list[bool] = []
    async with conn.transaction():
        if events:
            stmt = await conn.prepare(_INBOX_SQL)
            for e in events:
                new.append(bool(await stmt.fetchval(
                    e.shop, e.order_id, e.topic, e.dedupe_key, e.webhook_id, e.event_id, e.triggered_at,
                    e.kafka_topic, e.kafka_partition, e.kafka_offset, RawJson(e.raw),
                    RawJson(e.raw) if e.snapshot is not None else None,
                    e.snapshot_updated_at, e.order_name, e.refunds, e.transactions)))
        if dead:
            await conn.executemany(_DEAD_LETTER_SQL, [
                (d.kafka_topic, d.kafka_partition, d.kafka_offset, d.key, d.value,
                 encode_headers(d.headers), d.reason, d.detail[:2000], d.replay_of) for d in dead])
    return new
