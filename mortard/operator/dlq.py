"""`mortard dlq list|replay`: records the consumer could not take in, and sending them back.

A replay re-produces the record's original key, value and headers to the main topic, where the
consumer takes it in like any other record (dedupe on the Shopify webhook id still applies). The row
is stamped `replayed_at` *before* the send, in the same statement that checks it was not replayed
already, so two operators replaying at once send each record once; a failed send puts the stamp back
(`mortard.store.dead_letters`).
"""
from __future__ import annotations

import argparse
import base64
import json
import sys
from collections.abc import Sequence
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from mortard.operator.errors import UserError
from mortard.config import Config
from mortard.consume.records import HEADER_REPLAY_OF
from mortard.consume.security import kafka_client_options
from mortard.operator._db import database
from mortard.operator.render import emit, fields_block, table, to_json, when
from mortard.store import dead_letters
from mortard.store.db import Queryable
from mortard.store.dead_letters import ClaimedLetter, ListedLetter, StoredLetter, decode_headers


async def dlq_list(cfg: Config, args: argparse.Namespace) -> int:
    limit = getattr(args, "limit", 50)
    if limit <= 0:
        raise UserError(f"--limit must be at least 1, not {limit}")
    async with database(cfg) as db:
        rows = await dead_letters.recent(db, limit)
        counts = await dead_letters.counts(db)
    total, waiting = counts.total, counts.not_replayed
    letters = [_entry(r) for r in rows]
    if args.json:
        emit(to_json({"dead_letters": letters, "total": total, "not_replayed": waiting}))
        return 0
    if not letters:
        emit("no dead letters")
        return 0
    emit(table(("ID", "WHEN", "RECORD", "REPLAY OF", "REASON", "DETAIL", "REPLAYED"),
               [(d["id"], d["created_at"], f"{d['kafka_topic']}[{d['kafka_partition']}]@{d['kafka_offset']}",
                 d["replay_of"], d["reason"], d["detail"], when(d["replayed_at"]) if d["replayed_at"] else "no")
                for d in letters],
               max_widths={"DETAIL": 70, "RECORD": 48}))
    emit(f"\n{len(letters)} shown of {total}; {waiting} not replayed"
         + (" (`mortard dlq replay` sends them back to the topic)" if waiting else ""))
    return 0


def _entry(r: ListedLetter) -> dict[str, Any]:
    return {"id": r.id, "created_at": r.created_at, "kafka_topic": r.kafka_topic,
            "kafka_partition": r.kafka_partition, "kafka_offset": r.kafka_offset,
            "key": _text(r.key), "value_bytes": r.value_bytes, "headers": {name: _text(raw) for name, raw in r.headers},
            "reason": r.reason, "detail": r.detail, "replayed_at": r.replayed_at, "replay_of": r.replay_of}


def _text(raw: bytes | None) -> str | None:
    """Bytes as one string for a listing: UTF-8 text, or `base64:...` when they are not text."""
    return None if raw is None else _shown(*_decoded(bytes(raw)))


def replay_headers(r: ClaimedLetter) -> list[tuple[str, bytes]]:
    """The record's own headers, and `mortard-replay-of: <id>` naming this dead letter (in place of
    one an earlier replay put there), so a record dead-lettered again links back to it."""
    return [(k, v) for k, v in r.headers if k.lower() != HEADER_REPLAY_OF] + [(HEADER_REPLAY_OF, str(r.id).encode())]


# -- show ------------------------------------------------------------------------------------------

async def dlq_show(cfg: Config, args: argparse.Namespace) -> int:
    async with database(cfg) as db:
        r = await dead_letters.one(db, args.id)
    if r is None:
        raise UserError(f"no dead letter with id {args.id} (see `mortard dlq list`)")
    doc = _show_doc(r)
    if getattr(args, "json", False):
        emit(to_json(doc))
        return 0
    emit(_show_text(doc))
    return 0


def _show_doc(r: StoredLetter) -> dict[str, Any]:
    key, key_encoding = _decoded(r.key)
    payload, encoding = _payload(r.value)
    return {"id": r.id, "created_at": r.created_at, "kafka_topic": r.kafka_topic,
            "kafka_partition": r.kafka_partition, "kafka_offset": r.kafka_offset, "reason": r.reason,
            "detail": r.detail, "replayed_at": r.replayed_at, "replay_of": r.replay_of, "replays": list(r.replays),
            "key": key, "key_encoding": key_encoding,
            "headers": [dict(zip(("name", "value", "encoding"), (name, *_decoded(raw)))) for name, raw in r.headers],
            "value_bytes": len(r.value) if r.value is not None else None,
            "payload": payload, "payload_encoding": encoding}


def _decoded(raw: bytes | None) -> tuple[str | None, str | None]:
    """Bytes as UTF-8 text, or as base64 when they are not text: (value, "utf-8" | "base64")."""
    if raw is None:
        return None, None
    try:
        return raw.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        return base64.b64encode(raw).decode("ascii"), "base64"


def _payload(raw: bytes | None) -> tuple[Any, str | None]:
    """The value as JSON if it parses ("json"), else as text ("utf-8"), else base64 ("base64")."""
    text, encoding = _decoded(raw)
    if encoding == "utf-8":
        try:
            return json.loads(text or ""), "json"
        except (ValueError, RecursionError):
            pass
    return text, encoding


def _show_text(doc: dict[str, Any]) -> str:
    replays = doc["replays"]
    head = fields_block([
        ("dead letter", str(doc["id"])),
        ("record", f"{doc['kafka_topic']}[{doc['kafka_partition']}]@{doc['kafka_offset']}, "
                   f"dead-lettered {when(doc['created_at'])}"),
        ("reason", doc["reason"]),
        ("detail", doc["detail"]),
        ("replayed", when(doc["replayed_at"]) if doc["replayed_at"] else "no"),
        ("replay of", f"dead letter {doc['replay_of']} (this record came back from its replay)"
         if doc["replay_of"] is not None else None),
        ("replayed as", "dead letter(s) " + ", ".join(map(str, replays)) + " (dead-lettered again)"
         if replays else None),
        ("key", _shown(doc["key"], doc["key_encoding"]) if doc["key_encoding"] else "(none)"),
    ])
    parts = [head, f"\nheaders ({len(doc['headers'])}):"]
    if doc["headers"]:
        parts.append(table(("NAME", "VALUE"), [(h["name"], _shown(h["value"], h["encoding"])) for h in doc["headers"]],
                           indent="  "))
    else:
        parts.append("  (none)")
    encoding = doc["payload_encoding"]
    if encoding is None:
        parts.append("\npayload: (none: the record has no value)")
    else:
        kind = {"json": "JSON", "utf-8": "text, not JSON", "base64": "not UTF-8, shown as base64"}[encoding]
        body = json.dumps(doc["payload"], indent=2, ensure_ascii=False) if encoding == "json" else str(doc["payload"])
        parts.append(f"\npayload ({doc['value_bytes']} bytes, {kind}):")
        parts.append("\n".join("  " + line for line in body.splitlines()) or "  (empty)")
    return "\n".join(parts)


def _shown(value: str | None, encoding: str | None) -> str:
    return f"base64:{value}" if encoding == "base64" else (value or "")


# -- replay ----------------------------------------------------------------------------------------

async def dlq_replay(cfg: Config, args: argparse.Namespace) -> int:
    ids: Sequence[int] = getattr(args, "ids", None) or []
    force = bool(getattr(args, "force", False))
    limit = getattr(args, "limit", 50)
    if limit <= 0:
        raise UserError(f"--limit must be at least 1, not {limit}")
    async with database(cfg) as db:
        if ids:
            known = await dead_letters.replay_stamps(db, ids)
            unknown = [i for i in ids if i not in known]
            if unknown:
                raise UserError(f"no dead letter with id {', '.join(map(str, unknown))} (see `mortard dlq list`)")
            done = [i for i in ids if known[i] is not None]
            if done and not force:
                raise UserError(f"dead letter {done[0]} was already replayed at {when(known[done[0]])}"
                                + (f" (and {len(done) - 1} more)" if len(done) > 1 else "")
                                + "; pass --force to send it again")
            wanted = list(dict.fromkeys(ids))
            remaining = 0
        else:
            wanted = await dead_letters.not_replayed(db, limit)
            remaining = max(0, (await dead_letters.counts(db)).not_replayed - len(wanted))
        if not wanted:
            return _report(args, [], 0, cfg.kafka.topic, "nothing to replay: every dead letter was replayed already")
        claimed = await dead_letters.claim_for_replay(db, wanted, force)
        if len(claimed) < len(wanted):
            # Someone else replayed some of them between our check and the claim.
            skipped = sorted(set(wanted) - {c.id for c in claimed})
            print(f"mortard: skipped {', '.join(map(str, skipped))}: replayed meanwhile by someone else",
                  file=sys.stderr)
        sent = await _produce(cfg, db, claimed)
    return _report(args, sent, remaining, cfg.kafka.topic, None)


async def _produce(cfg: Config, db: Queryable, rows: Sequence[ClaimedLetter]) -> list[dict[str, Any]]:
    # A record with neither key nor value carries nothing a webhook could be rebuilt from (Kafka
    # won't take one either): say so, keep it unreplayed, and send the rest.
    empty = [r for r in rows if r.key is None and r.value is None]
    if empty:
        await dead_letters.release_claims(db, empty)
        print(f"mortard: skipped dead letter {', '.join(str(r.id) for r in empty)}: the record has neither "
              "key nor value, so there is nothing to send", file=sys.stderr)
        rows = [r for r in rows if r not in empty]
    if not rows:
        return []
    biggest = max(len(r.value or b"") + len(r.key or b"") for r in rows)
    producer = AIOKafkaProducer(**kafka_client_options(cfg.kafka), acks="all", client_id="mortard-dlq-replay",
                                request_timeout_ms=15_000, max_request_size=max(1 << 20, biggest + (64 << 10)))
    sent: list[dict[str, Any]] = []
    try:
        try:
            await producer.start()
        except (KafkaError, OSError) as exc:
            await dead_letters.release_claims(db, rows)
            raise UserError(f"cannot reach Kafka at {cfg.kafka.bootstrap}: {exc}") from None
        for n, r in enumerate(rows):
            try:
                meta = await (await producer.send(cfg.kafka.topic, value=r.value, key=r.key,
                                                  headers=replay_headers(r)))
            except (KafkaError, OSError) as exc:
                await dead_letters.release_claims(db, rows[n:])
                done = f" after replaying {', '.join(str(s['id']) for s in sent)}" if sent else ""
                raise UserError(f"sending dead letter {r.id} to {cfg.kafka.topic} failed{done}: "
                                f"{type(exc).__name__}: {exc}") from None
            sent.append({"id": r.id, "reason": r.reason,
                         "from": f"{r.kafka_topic}[{r.kafka_partition}]@{r.kafka_offset}",
                         "to_topic": meta.topic, "to_partition": meta.partition, "to_offset": meta.offset,
                         "replayed_at": r.replayed_at, "again": r.previous is not None})
    finally:
        await producer.stop()
    return sent


async def send_claimed(cfg: Config, db: Queryable, rows: Sequence[ClaimedLetter]) -> list[dict[str, Any]]:
    """Send dead letters `claim_for_replay` stamped back to the topic (the console's replay); a failed
    send puts their stamps back and raises UserError."""
    return await _produce(cfg, db, rows)


def _report(args: argparse.Namespace, sent: list[dict[str, Any]], remaining: int, topic: str,
            empty: str | None) -> int:
    if getattr(args, "json", False):
        emit(to_json({"replayed": sent, "topic": topic, "remaining": remaining}))
        return 0
    if empty is not None and not sent:
        emit(empty)
        return 0
    for s in sent:
        emit(f"replayed dead letter {s['id']} ({s['reason']}, from {s['from']}) → "
             f"{s['to_topic']}[{s['to_partition']}]@{s['to_offset']}" + (" (again, --force)" if s["again"] else ""))
    emit(f"{len(sent)} record(s) sent back to {topic}"
         + (f"; {remaining} more not replayed (run again, or raise --limit)" if remaining else ""))
    return 0


__all__ = ["dlq_list", "dlq_replay", "dlq_show", "decode_headers", "replay_headers", "send_claimed"]
