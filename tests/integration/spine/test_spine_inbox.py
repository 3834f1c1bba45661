"""The consumer on a real broker and a real Postgres: inbox, dedupe, snapshot order, dead letters."""
from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from decimal import Decimal

import asyncpg
import pytest

from kafka_helpers import create_topic, produce, produce_raw, read_all
from mortard.config import KafkaConfig
from mortard.consume.consumer import InboxConsumer
from mortard.testing.shopify import T0, LineSpec, OrderSpec, order_payload, refund_payload, webhook

SHOP = "acme-store.myshopify.com"


def spec(order_id: int = 5001) -> OrderSpec:
    return OrderSpec(order_id, 1000 + order_id % 1000, [LineSpec("SKU-0001", 2, Decimal("19.99"))])


def kafka_cfg(bootstrap: str, topic: str, *, tansu: bool = False, **kw) -> KafkaConfig:
    # Tansu joins a group in session_timeout/2, so it gets a short session (infra.md); noida-db
    # refuses sessions under 6 s, like Kafka.
    session, heartbeat = (1000, 250) if tansu else (6000, 1000)
    return KafkaConfig(bootstrap=bootstrap, topic=topic, dead_letter_topic=topic + ".dead",
                       group_id=f"g-{topic}", session_timeout_ms=session, heartbeat_interval_ms=heartbeat,
                       commit_interval_s=0.2, **kw)


@pytest.fixture(params=["noida", "tansu"])
def broker(request) -> tuple[str, bool]:
    """Every consumer test runs on noida-db and again on Tansu, an independent implementation."""
    if request.param == "tansu":
        return request.getfixturevalue("tansu_bootstrap"), True
    return request.getfixturevalue("noida_bootstrap"), False


async def wait_for(pool: asyncpg.Pool, sql: str, expect, timeout: float = 20.0):
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    value = None
    while loop.time() < deadline:
        value = await pool.fetchval(sql)
        if value == expect:
            return value
        await asyncio.sleep(0.05)
    raise AssertionError(f"{sql!r} gave {value!r}, expected {expect!r}")


@pytest.fixture
def kafka_bootstrap(broker) -> str:  # the broker under test, for the tests' own producing and reading
    return broker[0]


@pytest.fixture
async def consumer_factory(pool, broker, topic_name):
    kafka_bootstrap, tansu = broker
    await create_topic(kafka_bootstrap, topic_name, partitions=4)
    started: list[InboxConsumer] = []
    due: list[tuple[str, int]] = []

    async def make(**kw) -> InboxConsumer:
        c = InboxConsumer(kafka_cfg(kafka_bootstrap, topic_name, tansu=tansu, **kw), pool, known_shops={SHOP},
                          on_due=lambda s, o: due.append((s, o)))
        await c.start()
        started.append(c)
        return c

    make.due = due  # type: ignore[attr-defined]
    yield make
    for c in started:
        await c.stop()


async def test_events_land_in_postgres_and_mark_the_order_due(pool, kafka_bootstrap, topic_name, consumer_factory):
    await consumer_factory()
    hooks = [webhook("orders/create", SHOP, order_payload(spec(5000 + i))) for i in range(20)]
    await produce(kafka_bootstrap, topic_name, hooks)
    await wait_for(pool, "SELECT count(*) FROM events", 20)
    assert await pool.fetchval("SELECT count(*) FROM orders WHERE due_seq > done_seq") == 20
    row = await pool.fetchrow("SELECT order_name, snapshot FROM orders WHERE order_id = 5003")
    assert row["order_name"] == "#1003" and row["snapshot"]["id"] == 5003
    await asyncio.sleep(0.1)
    assert sorted(consumer_factory.due) == sorted((SHOP, 5000 + i) for i in range(20))


async def test_the_same_webhook_delivered_twice_is_stored_once(pool, kafka_bootstrap, topic_name, consumer_factory):
    await consumer_factory()
    hook = webhook("orders/create", SHOP, order_payload(spec()))
    await produce(kafka_bootstrap, topic_name, [hook, hook, hook])
    other = webhook("orders/updated", SHOP, order_payload(spec(), updated_at=T0 + timedelta(hours=1)))
    await produce(kafka_bootstrap, topic_name, [other])
    await wait_for(pool, "SELECT count(*) FROM events", 2)
    await asyncio.sleep(0.5)  # give a duplicate time to (wrongly) land
    assert await pool.fetchval("SELECT count(*) FROM events") == 2
    assert await pool.fetchval("SELECT due_seq FROM orders") == 2


async def test_an_older_snapshot_never_overwrites_a_newer_one(pool, kafka_bootstrap, topic_name, consumer_factory):
    await consumer_factory()
    s = spec()
    newer = order_payload(s, updated_at=T0 + timedelta(hours=3), quantities={"SKU-0001": 1})
    older = order_payload(s, updated_at=T0 + timedelta(hours=1))
    await produce(kafka_bootstrap, topic_name, [webhook("orders/updated", SHOP, newer)])
    await produce(kafka_bootstrap, topic_name, [webhook("orders/updated", SHOP, older)])
    await wait_for(pool, "SELECT count(*) FROM events", 2)
    snap = await pool.fetchval("SELECT snapshot FROM orders")
    assert snap["line_items"][0]["current_quantity"] == 1
    assert await pool.fetchval("SELECT count(*) FROM events WHERE stale") == 1


async def test_refunds_merge_by_id_even_before_the_order_arrives(pool, kafka_bootstrap, topic_name, consumer_factory):
    await consumer_factory()
    s = spec()
    r1 = refund_payload(s, 91, {"SKU-0001": (1, "return")})
    await produce(kafka_bootstrap, topic_name, [webhook("refunds/create", SHOP, r1)])
    await wait_for(pool, "SELECT count(*) FROM orders", 1)
    assert await pool.fetchval("SELECT snapshot FROM orders") is None
    await produce(kafka_bootstrap, topic_name, [webhook("orders/create", SHOP, order_payload(s))])
    await wait_for(pool, "SELECT count(*) FROM events", 2)
    row = await pool.fetchrow("SELECT snapshot, refunds FROM orders")
    assert row["snapshot"]["id"] == s.order_id and list(row["refunds"]) == ["91"]


async def test_a_poison_record_is_dead_lettered_and_the_next_good_one_still_lands(
        pool, kafka_bootstrap, topic_name, consumer_factory):
    await consumer_factory()
    good = webhook("orders/create", SHOP, order_payload(spec()))
    hdr = [("shopify-topic", b"orders/create"), ("shopify-shop-domain", SHOP.encode())]
    await produce_raw(kafka_bootstrap, topic_name, [
        (b"k1", b"{not json", hdr),
        (b"k2", b"\xff\xfe", hdr),
        (b"k3", json.dumps({"id": "nope"}).encode(), hdr),
        (b"k4", json.dumps({"id": 1}).encode(), [("shopify-topic", b"orders/create"),
                                                  ("shopify-shop-domain", b"stranger.myshopify.com")]),
        (b"k5", json.dumps({"id": 2}).encode(), []),
        (b"k6", json.dumps({"id": 3, "updated_at": "2026-11-27T10:00:00Z", "note": "nul \u0000 byte"}).encode(), hdr),
    ])
    await produce(kafka_bootstrap, topic_name, [good])
    await wait_for(pool, "SELECT count(*) FROM dead_letters", 6)
    await wait_for(pool, "SELECT count(*) FROM events", 1)
    reasons = sorted(r["reason"] for r in await pool.fetch("SELECT reason FROM dead_letters"))
    assert reasons == sorted(["not_json", "invalid_utf8", "no_order_id", "unknown_shop", "missing_header",
                              "unstorable"])
    raw = await pool.fetchval("SELECT value FROM dead_letters WHERE reason = 'invalid_utf8'")
    assert raw == b"\xff\xfe"
    dlq = await read_all(kafka_bootstrap, topic_name + ".dead", 6)
    assert len(dlq) == 6
    assert {dict(r.headers)["mortard-dlq-reason"] for r in dlq} == {
        b"not_json", b"invalid_utf8", b"no_order_id", b"unknown_shop", b"missing_header", b"unstorable"}


async def test_offsets_are_committed_only_for_durable_records(pool, kafka_bootstrap, topic_name, consumer_factory):
    from kafka_helpers import committed_offsets
    c = await consumer_factory()
    hooks = [webhook("orders/create", SHOP, order_payload(spec(7000 + i))) for i in range(12)]
    await produce(kafka_bootstrap, topic_name, hooks)
    await wait_for(pool, "SELECT count(*) FROM events", 12)
    await asyncio.sleep(0.6)
    offsets = await committed_offsets(kafka_bootstrap, c._cfg.group_id, topic_name, 4)
    assert sum(offsets.values()) == 12


async def test_two_consumers_in_one_group_split_partitions_and_store_each_event_once(
        pool, kafka_bootstrap, topic_name, consumer_factory):
    a = await consumer_factory()
    b = await consumer_factory()
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 20
    while loop.time() < deadline and not (a.assignment and b.assignment):
        await asyncio.sleep(0.1)
    assert a.assignment and b.assignment and not (a.assignment & b.assignment)
    hooks = [webhook("orders/create", SHOP, order_payload(spec(8000 + i))) for i in range(200)]
    await produce(kafka_bootstrap, topic_name, hooks)
    await wait_for(pool, "SELECT count(*) FROM events", 200)
    assert a.stats.new_events > 0 and b.stats.new_events > 0
    assert a.stats.new_events + b.stats.new_events == 200
