"""`mortard dlq list|replay` against a real broker: a replayed record is really back on the topic."""
from __future__ import annotations

import asyncpg

from kafka_helpers import read_all
from mortard.store.inbox import encode_headers

HEADERS = [("shopify-topic", b"orders/create"), ("shopify-shop-domain", b"ghost.myshopify.com"),
           ("shopify-webhook-id", b"wh-77"), ("x-binary", b"\x00\xff")]


async def seed_dead(pool: asyncpg.Pool, offset: int, *, reason: str = "unknown_shop", replayed: bool = False,
                    value: bytes | None = b'{"id": 1001, "name": "#1001"}', key: bytes | None = b"ghost/1001") -> int:
    return await pool.fetchval(
        "INSERT INTO dead_letters (kafka_topic, kafka_partition, kafka_offset, key, value, headers, reason, detail, "
        "replayed_at) VALUES ('shopify.orders', 0, $1, $2, $3, $4, $5, $6, CASE WHEN $7 THEN now() END) RETURNING id",
        offset, key, value, encode_headers(HEADERS), reason, f"shop 'ghost.myshopify.com' is not configured ({offset})",
        replayed)


async def test_list_shows_dead_letters_with_their_coordinates_reason_and_replay_state(make_ops, pool):
    ops = await make_ops()
    first = await seed_dead(pool, 5)
    second = await seed_dead(pool, 6, reason="not_json", value=b"\xff{", replayed=True)
    code, out, err = await ops.run("dlq", "list")
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].split() == ["ID", "WHEN", "RECORD", "REASON", "DETAIL", "REPLAYED"]
    assert lines[2].split()[0] == str(second) and "shopify.orders[0]@6" in lines[2] and "not_json" in lines[2]
    assert lines[3].split()[0] == str(first) and lines[3].rstrip().endswith("no")
    assert "2 shown of 2; 1 not replayed" in out
    doc = await ops.json("dlq", "list")
    assert doc["total"] == 2 and doc["not_replayed"] == 1
    d = {x["id"]: x for x in doc["dead_letters"]}
    assert d[first]["key"] == "ghost/1001" and d[first]["replayed_at"] is None and d[first]["value_bytes"] == 29
    assert d[first]["headers"]["shopify-webhook-id"] == "wh-77"
    assert d[first]["headers"]["x-binary"] == "base64:AP8="
    assert isinstance(d[second]["replayed_at"], str)


async def test_replay_puts_the_original_record_back_on_the_topic_and_stamps_it(make_ops, pool, kafka_bootstrap):
    ops = await make_ops()
    dl = await seed_dead(pool, 5)
    code, out, err = await ops.run("dlq", "replay", str(dl))
    assert code == 0, err
    assert f"replayed dead letter {dl} (unknown_shop, from shopify.orders[0]@5) → {ops.config.kafka.topic}[" in out
    (rec,) = await read_all(kafka_bootstrap, ops.config.kafka.topic, expect=1)
    assert rec.key == b"ghost/1001" and rec.value == b'{"id": 1001, "name": "#1001"}'
    assert [(k, bytes(v)) for k, v in rec.headers] == HEADERS
    assert await pool.fetchval("SELECT replayed_at IS NOT NULL FROM dead_letters WHERE id = $1", dl)


async def test_replaying_one_twice_is_refused_unless_forced(make_ops, pool, kafka_bootstrap, operator_flags):
    ops = await make_ops()
    dl = await seed_dead(pool, 5)
    assert (await ops.run("dlq", "replay", str(dl)))[0] == 0
    stamped = await pool.fetchval("SELECT replayed_at FROM dead_letters WHERE id = $1", dl)
    code, out, err = await ops.run("dlq", "replay", str(dl))
    assert code == 1 and out == "" and err.count("\n") == 1
    assert err.startswith(f"mortard: dead letter {dl} was already replayed at ") and "--force" in err
    assert await pool.fetchval("SELECT replayed_at FROM dead_letters WHERE id = $1", dl) == stamped
    doc = await ops.json("dlq", "replay", str(dl), "--force")
    assert [(r["id"], r["again"]) for r in doc["replayed"]] == [(dl, True)]
    recs = await read_all(kafka_bootstrap, ops.config.kafka.topic, expect=2)
    assert len(recs) == 2 and {r.value for r in recs} == {b'{"id": 1001, "name": "#1001"}'}
    assert await pool.fetchval("SELECT replayed_at FROM dead_letters WHERE id = $1", dl) > stamped


async def test_replay_without_ids_sends_every_letter_not_yet_replayed_once(make_ops, pool, kafka_bootstrap):
    ops = await make_ops()
    a = await seed_dead(pool, 5, key=b"k5")
    await seed_dead(pool, 6, key=b"k6", replayed=True)
    c = await seed_dead(pool, 7, key=b"k7", value=None)
    doc = await ops.json("dlq", "replay")
    assert [r["id"] for r in doc["replayed"]] == [a, c] and doc["remaining"] == 0
    recs = await read_all(kafka_bootstrap, ops.config.kafka.topic, expect=2)
    assert sorted((r.key, r.value) for r in recs) == [(b"k5", b'{"id": 1001, "name": "#1001"}'), (b"k7", None)]
    code, out, _ = await ops.run("dlq", "replay")
    assert code == 0 and out.strip() == "nothing to replay: every dead letter was replayed already"
    assert await pool.fetchval("SELECT count(*) FROM dead_letters WHERE replayed_at IS NULL") == 0


async def test_replay_of_an_unknown_id_exits_1_and_sends_nothing(make_ops, pool, kafka_bootstrap):
    ops = await make_ops()
    dl = await seed_dead(pool, 5)
    code, out, err = await ops.run("dlq", "replay", str(dl), "999")
    assert code == 1 and err == "mortard: no dead letter with id 999 (see `mortard dlq list`)\n"
    assert await pool.fetchval("SELECT replayed_at FROM dead_letters WHERE id = $1", dl) is None
    assert await read_all(kafka_bootstrap, ops.config.kafka.topic, expect=1, timeout=1.5) == []


async def test_a_record_with_neither_key_nor_value_is_skipped_with_a_reason_and_the_rest_still_replay(
        make_ops, pool, kafka_bootstrap):
    ops = await make_ops()
    empty = await seed_dead(pool, 5, key=None, value=None, reason="not_json")
    good = await seed_dead(pool, 6, key=b"k6")
    code, out, err = await ops.run("dlq", "replay")
    assert code == 0, err
    assert f"skipped dead letter {empty}: the record has neither key nor value" in err
    assert "Traceback" not in err and f"replayed dead letter {good} " in out
    (rec,) = await read_all(kafka_bootstrap, ops.config.kafka.topic, expect=1)
    assert rec.key == b"k6"
    assert await pool.fetchval("SELECT replayed_at FROM dead_letters WHERE id = $1", empty) is None
