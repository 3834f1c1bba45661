"""Dead letters in Postgres: records the consumer could not take in, listed and claimed for a replay.

The consumer writes them with the inbox batch they arrived in (`store.inbox.write_batch`); headers
are stored as `[[name, base64 value], ...]` (`encode_headers`, `decode_headers`).

A replay claims its rows by stamping `replayed_at` *before* the send, in the statement that checks
they were not replayed already, so two operators replaying at once send each record once; a failed
send puts the old stamp back (`release_claims`).
"""
from __future__ import annotations

import base64
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from mortard.store.db import Queryable

__all__ = ["ClaimedLetter", "DeadLetterCounts", "ListedLetter", "StoredLetter", "claim_for_replay", "counts",
           "decode_headers", "encode_headers", "not_replayed", "one", "recent", "release_claims", "replay_stamps"]

Headers = tuple[tuple[str, bytes], ...]

_RECENT = """
SELECT id, created_at, kafka_topic, kafka_partition, kafka_offset, key, octet_length(value) AS value_bytes,
       headers, reason, detail, replayed_at, replay_of
FROM dead_letters ORDER BY id DESC LIMIT $1
"""

# One dead letter whole, and the dead letters its replays became (`replay_of` naming it).
_ONE = """
SELECT d.id, d.created_at, d.kafka_topic, d.kafka_partition, d.kafka_offset, d.key, d.value, d.headers, d.reason,
       d.detail, d.replayed_at, d.replay_of,
       coalesce((SELECT array_agg(n.id ORDER BY n.id) FROM dead_letters n WHERE n.replay_of = d.id), '{}') AS replays
FROM dead_letters d WHERE d.id = $1
"""

_COUNTS = "SELECT count(*) AS total, count(*) FILTER (WHERE replayed_at IS NULL) AS not_replayed FROM dead_letters"

_STAMPS = "SELECT id, replayed_at FROM dead_letters WHERE id = ANY($1::bigint[])"

_NOT_REPLAYED = "SELECT id FROM dead_letters WHERE replayed_at IS NULL ORDER BY id LIMIT $1"

# Stamp the rows to replay (only those not replayed yet, unless forced); the old stamp comes back so
# a failed send can restore it.
_CLAIM = """
WITH c AS (
    SELECT id, replayed_at AS previous FROM dead_letters
    WHERE id = ANY($1::bigint[]) AND (replayed_at IS NULL OR $2)
    FOR UPDATE
)
UPDATE dead_letters d SET replayed_at = now()
FROM c WHERE d.id = c.id
RETURNING d.id, d.kafka_topic, d.kafka_partition, d.kafka_offset, d.key, d.value, d.headers, d.reason,
          c.previous, d.replayed_at
"""

# Only if the stamp is still ours: a replay that claimed the row since keeps its own.
_UNCLAIM = "UPDATE dead_letters SET replayed_at = $2 WHERE id = $1 AND replayed_at = $3"


def encode_headers(headers: Sequence[tuple[str, bytes]]) -> list[list[str]]:
    return [[name, base64.b64encode(raw or b"").decode("ascii")] for name, raw in headers or ()]


def decode_headers(stored: Any) -> list[tuple[str, bytes]]:
    """`[[name, base64], ...]` (as `encode_headers` wrote them) back to Kafka headers."""
    return [(str(name), base64.b64decode(value)) for name, value in stored or []]


@dataclass(frozen=True, slots=True)
class ListedLetter:
    id: int
    created_at: datetime
    kafka_topic: str
    kafka_partition: int
    kafka_offset: int
    key: bytes | None
    value_bytes: int | None          # the value's size; the value itself stays in Postgres
    headers: Headers
    reason: str
    detail: str | None
    replayed_at: datetime | None
    replay_of: int | None            # the dead letter this record was replayed from, when it came back


@dataclass(frozen=True, slots=True)
class StoredLetter:
    """One dead letter whole (`mortard dlq show`)."""
    id: int
    created_at: datetime
    kafka_topic: str
    kafka_partition: int
    kafka_offset: int
    key: bytes | None
    value: bytes | None
    headers: Headers
    reason: str
    detail: str | None
    replayed_at: datetime | None
    replay_of: int | None
    replays: tuple[int, ...]         # the dead letters replays of this one became


@dataclass(frozen=True, slots=True)
class DeadLetterCounts:
    total: int
    not_replayed: int


@dataclass(frozen=True, slots=True)
class ClaimedLetter:
    """A row stamped for replay: what to send, and the stamps to put back if the send fails."""
    id: int
    kafka_topic: str
    kafka_partition: int
    kafka_offset: int
    key: bytes | None
    value: bytes | None
    headers: Headers
    reason: str
    previous: datetime | None        # replayed_at before this claim (None: never replayed)
    replayed_at: datetime            # this claim's stamp


def _bytes(raw: Any) -> bytes | None:
    return None if raw is None else bytes(raw)


async def recent(db: Queryable, limit: int) -> list[ListedLetter]:
    """The newest `limit` dead letters, newest first."""
    return [ListedLetter(r["id"], r["created_at"], r["kafka_topic"], r["kafka_partition"], r["kafka_offset"],
                         _bytes(r["key"]), r["value_bytes"], tuple(decode_headers(r["headers"])), r["reason"],
                         r["detail"], r["replayed_at"], r["replay_of"]) for r in await db.fetch(_RECENT, limit)]


async def one(db: Queryable, letter_id: int) -> StoredLetter | None:
    """The dead letter `letter_id`, with its value; None if there is none."""
    r = await db.fetchrow(_ONE, letter_id)
    if r is None:
        return None
    return StoredLetter(r["id"], r["created_at"], r["kafka_topic"], r["kafka_partition"], r["kafka_offset"],
                        _bytes(r["key"]), _bytes(r["value"]), tuple(decode_headers(r["headers"])), r["reason"],
                        r["detail"], r["replayed_at"], r["replay_of"], tuple(r["replays"]))


async def counts(db: Queryable) -> DeadLetterCounts:
    r = await db.fetchrow(_COUNTS)
    return DeadLetterCounts(r["total"], r["not_replayed"])


async def replay_stamps(db: Queryable, ids: Sequence[int]) -> dict[int, datetime | None]:
    """id -> when it was last replayed (None: never), for those of `ids` that exist."""
    return {r["id"]: r["replayed_at"] for r in await db.fetch(_STAMPS, list(ids))}


async def not_replayed(db: Queryable, limit: int) -> list[int]:
    """The oldest `limit` ids never replayed."""
    return [r["id"] for r in await db.fetch(_NOT_REPLAYED, limit)]


async def claim_for_replay(db: Queryable, ids: Sequence[int], force: bool) -> list[ClaimedLetter]:
    """Stamp `ids` as replayed now (those replayed already only if `force`); returns the rows claimed,
    by id. A row missing from the answer was claimed meanwhile by someone else."""
    rows = await db.fetch(_CLAIM, list(ids), force)
    return sorted((ClaimedLetter(r["id"], r["kafka_topic"], r["kafka_partition"], r["kafka_offset"], _bytes(r["key"]),
                                 _bytes(r["value"]), tuple(decode_headers(r["headers"])), r["reason"], r["previous"],
                                 r["replayed_at"]) for r in rows), key=lambda c: c.id)


async def release_claims(db: Queryable, letters: Sequence[ClaimedLetter]) -> None:
    """Put back the stamps `claim_for_replay` replaced, for records that were not sent."""
    for c in letters:
        await db.execute(_UNCLAIM, c.id, c.previous, c.replayed_at)
