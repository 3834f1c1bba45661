"""`mortard dlq list|replay` against a real broker: a replayed record is really back on the topic."""
from __future__ import annotations

import asyncio
import dataclasses
import json

import asyncpg

from kafka_helpers import produce_raw, read_all
from mortard.consume.consumer import InboxConsumer
from mortard.store.inbox import encode_headers
from stack import SHOP

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
    assert lines[0].split() == ["ID", "WHEN", "RECORD", "REPLAY", "OF", "REASON", "DETAIL", "REPLAYED"]
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
    # The record's own headers, and the one naming the dead letter it was replayed from.
    assert [(k, bytes(v)) for k, v in rec.headers] == HEADERS + [("mortard-replay-of", str(dl).encode())]
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


# -- show ------------------------------------------------------------------------------------------

async def test_show_prints_the_record_whole_with_its_json_payload_pretty(make_ops, pool):
    ops = await make_ops()
    dl = await seed_dead(pool, 5, value=b'{"id": 1001, "name": "#1001", "line_items": [{"sku": "SKU-1"}]}')
    code, out, err = await ops.run("dlq", "show", str(dl))
    assert code == 0, err
    assert f"dead letter: {dl}" in out and "record:      shopify.orders[0]@5, dead-lettered " in out
    assert "reason:      unknown_shop" in out and "shop 'ghost.myshopify.com' is not configured (5)" in out
    assert "key:         ghost/1001" in out and "replayed:    no" in out
    assert "shopify-webhook-id   wh-77" in out and "x-binary             base64:AP8=" in out
    assert "payload (63 bytes, JSON):" in out
    assert '\n  {\n    "id": 1001,\n    "name": "#1001",\n    "line_items": [\n' in out    # pretty-printed
    doc = await ops.json("dlq", "show", str(dl))
    assert doc["payload_encoding"] == "json" and doc["payload"]["line_items"] == [{"sku": "SKU-1"}]
    assert doc["key"] == "ghost/1001" and doc["key_encoding"] == "utf-8" and doc["value_bytes"] == 63
    assert doc["headers"][3] == {"name": "x-binary", "value": "AP8=", "encoding": "base64"}
    assert doc["headers"][0] == {"name": "shopify-topic", "value": "orders/create", "encoding": "utf-8"}
    assert (doc["id"], doc["kafka_offset"], doc["replay_of"], doc["replays"]) == (dl, 5, None, [])


async def test_show_gives_text_that_is_not_json_as_text_and_bytes_that_are_not_utf8_as_base64(make_ops, pool):
    ops = await make_ops()
    text = await seed_dead(pool, 5, reason="not_json", value=b"{not json")
    binary = await seed_dead(pool, 6, reason="invalid_utf8", value=b"\xff\xfe{", key=b"\x80k")
    empty = await seed_dead(pool, 7, reason="empty_value", value=None, key=None)
    doc = await ops.json("dlq", "show", str(text))
    assert (doc["payload"], doc["payload_encoding"]) == ("{not json", "utf-8")
    doc = await ops.json("dlq", "show", str(binary))
    assert (doc["payload"], doc["payload_encoding"]) == ("//57", "base64")
    assert (doc["key"], doc["key_encoding"]) == ("gGs=", "base64")
    code, out, _ = await ops.run("dlq", "show", str(binary))
    assert "payload (3 bytes, not UTF-8, shown as base64):\n  //57" in out and "key:         base64:gGs=" in out
    code, out, _ = await ops.run("dlq", "show", str(text))
    assert "payload (9 bytes, text, not JSON):\n  {not json" in out
    doc = await ops.json("dlq", "show", str(empty))
    assert doc["payload"] is None and doc["payload_encoding"] is None and doc["key"] is None
    code, out, _ = await ops.run("dlq", "show", str(empty))
    assert "payload: (none: the record has no value)" in out and "key:         (none)" in out


async def test_show_of_an_unknown_id_names_it_and_works_without_heartland_tokens(make_ops, pool, monkeypatch):
    ops = await make_ops()
    dl = await seed_dead(pool, 5)
    for name in ("ACME_TOKEN", "GLOBEX_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    code, out, err = await ops.run("dlq", "show", str(dl + 1000))
    assert code == 1 and out == "" and err == f"mortard: no dead letter with id {dl + 1000} (see `mortard dlq list`)\n"
    code, out, err = await ops.run("dlq", "show", str(dl + 1000), "--json")
    assert code == 1 and json.loads(out)["error"]["message"].startswith(f"no dead letter with id {dl + 1000}")
    assert (await ops.run("dlq", "show", str(dl)))[0] == 0


# -- a replay dead-lettered again links back ---------------------------------------------------------

async def _consume_until(ops, pool, dead_letters: int, timeout: float = 30.0) -> None:
    """Run the daemon's consumer on the ops topic until `dead_letters` rows exist."""
    kafka = dataclasses.replace(ops.config.kafka, group_id=f"g-{ops.config.kafka.topic}", session_timeout_ms=6000,
                                heartbeat_interval_ms=1000, commit_interval_s=0.2)
    consumer = InboxConsumer(kafka, pool, known_shops=set(ops.config.shops))
    await consumer.start()
    try:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while (n := await pool.fetchval("SELECT count(*) FROM dead_letters")) < dead_letters:
            assert loop.time() < deadline, f"{n} dead letters, expected {dead_letters}"
            await asyncio.sleep(0.05)
        assert n == dead_letters
    finally:
        await consumer.stop()


async def test_a_replayed_record_dead_lettered_again_links_to_the_dead_letter_it_came_from(make_ops, pool):
    ops = await make_ops()
    still_bad = [("shopify-topic", b"orders/create"), ("shopify-shop-domain", SHOP.encode()),
                 ("shopify-webhook-id", b"wh-9")]
    old = await pool.fetchval(
        "INSERT INTO dead_letters (kafka_topic, kafka_partition, kafka_offset, key, value, headers, reason, detail) "
        "VALUES ('shopify.orders', 0, 5, 'k', '{not json', $1, 'not_json', 'value is not JSON') RETURNING id",
        encode_headers(still_bad))
    assert (await ops.run("dlq", "replay", str(old)))[0] == 0
    await _consume_until(ops, pool, 2)
    new = await pool.fetchrow("SELECT id, reason, replay_of, kafka_topic FROM dead_letters WHERE id <> $1", old)
    assert (new["reason"], new["replay_of"], new["kafka_topic"]) == ("not_json", old, ops.config.kafka.topic)

    shown = await ops.json("dlq", "show", str(new["id"]))
    assert shown["replay_of"] == old
    assert {"name": "mortard-replay-of", "value": str(old), "encoding": "utf-8"} in shown["headers"]
    assert (await ops.json("dlq", "show", str(old)))["replays"] == [new["id"]]
    code, out, _ = await ops.run("dlq", "show", str(old))
    assert f"replayed as: dead letter(s) {new['id']} (dead-lettered again)" in out
    code, out, _ = await ops.run("dlq", "show", str(new["id"]))
    assert f"replay of:   dead letter {old} (this record came back from its replay)" in out
    listed = {d["id"]: d["replay_of"] for d in (await ops.json("dlq", "list"))["dead_letters"]}
    assert listed == {old: None, new["id"]: old}

    # Replaying the new one names it, not the first: one header, the newest link.
    assert (await ops.run("dlq", "replay", str(new["id"])))[0] == 0
    await _consume_until(ops, pool, 3)
    third = await pool.fetchval("SELECT replay_of FROM dead_letters ORDER BY id DESC LIMIT 1")
    assert third == new["id"]


async def test_a_forged_or_mangled_replay_header_stores_no_link(make_ops, pool):
    ops = await make_ops()
    real = await seed_dead(pool, 5)
    base = [("shopify-topic", b"orders/create"), ("shopify-shop-domain", SHOP.encode())]
    await produce_raw(ops.config.kafka.bootstrap, ops.config.kafka.topic, [
        (b"k1", b"{bad", base + [("mortard-replay-of", str(real + 10_000).encode())]),   # no such dead letter
        (b"k2", b"{bad", base + [("mortard-replay-of", b"1; DROP TABLE orders")]),
        (b"k3", b"{bad", base + [("mortard-replay-of", b"99999999999999999999999")]),  # past bigint
        (b"k4", b"{bad", base + [("mortard-replay-of", str(real).encode())]),           # a real one links
    ])
    await _consume_until(ops, pool, 5)
    links = {bytes(r["key"]): r["replay_of"] for r in await pool.fetch(
        "SELECT key, replay_of FROM dead_letters WHERE id <> $1", real)}
    assert links == {b"k1": None, b"k2": None, b"k3": None, b"k4": real}
