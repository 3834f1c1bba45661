"""Bounded load and outage tests on loopback. They print their figures; they assert correctness only."""
from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence

import aiohttp
import pytest
from ingest_helpers import SHOP, create_topic, new_topic_name, order_body, read_topic, serve_ingest, webhook_headers

from mortard.testing.kafka import EmbeddedBroker
from mortard.ingest import RecordSink

REQUESTS = 2_000
CONCURRENCY = 50
HARD_CAP_S = 60.0


async def _post(http: aiohttp.ClientSession, url: str, order_id: int) -> tuple[int, int, float]:
    body = order_body(order_id)
    started = time.perf_counter()
    try:
        async with http.post(url, data=body, headers=webhook_headers(body, webhook_id=f"w-{order_id}")) as resp:
            await resp.read()
            status = resp.status
    except aiohttp.ClientError:
        status = 0
    return order_id, status, time.perf_counter() - started


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def test_load_2000_webhooks_at_concurrency_50_all_land_on_the_topic(
        kafka_bootstrap: str, capsys: pytest.CaptureFixture[str]) -> None:
    topic = new_topic_name()
    await create_topic(kafka_bootstrap, topic)
    queue: asyncio.Queue[int] = asyncio.Queue()
    for order_id in range(1, REQUESTS + 1):
        queue.put_nowait(order_id)
    results: list[tuple[int, int, float]] = []

    async def worker(http: aiohttp.ClientSession, url: str) -> None:
        while not queue.empty():
            results.append(await _post(http, url, queue.get_nowait()))

    async with serve_ingest(kafka_bootstrap, topic) as url, \
            aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=CONCURRENCY)) as http:
        started = time.perf_counter()
        async with asyncio.timeout(HARD_CAP_S):
            await asyncio.gather(*(worker(http, url) for _ in range(CONCURRENCY)))
        elapsed = time.perf_counter() - started

    latencies = [r[2] for r in results]
    with capsys.disabled():
        print(f"\n[ingest load] {REQUESTS} webhooks, concurrency {CONCURRENCY}, noida on loopback, "
              f"client+server in one process: {REQUESTS / elapsed:,.0f} req/s, "
              f"p50 {_percentile(latencies, 0.50) * 1000:.1f} ms, "
              f"p99 {_percentile(latencies, 0.99) * 1000:.1f} ms, "
              f"max {max(latencies) * 1000:.1f} ms, total {elapsed:.2f} s")

    assert sorted(r[0] for r in results) == list(range(1, REQUESTS + 1))
    assert {r[1] for r in results} == {200}
    records = await read_topic(kafka_bootstrap, topic)
    assert sorted(r.key for r in records) == sorted(f"{SHOP}/{i}".encode() for i in range(1, REQUESTS + 1))
    assert all(r.value == order_body(int(r.key.rsplit(b"/", 1)[1])) for r in records)


# noida-db is not durable at ack time, and the outage test has to allow for it (measured here):
# - it keeps data in memory and snapshots it about once a second: a topic and 50 acked records
#   were gone after a kill -9 0.8 s later, present 1.1 s later;
# - on SIGTERM it saves, then still acknowledges produce requests for the few ms until it exits.
# Records it acknowledged in those windows can vanish: a broker property no producer can fix (real
# Kafka keeps acked records in the page cache across a process kill, and replicates them). So the
# test checks what ingest controls, strictly: a 200 is only ever sent after the broker acked; and
# any loss lies inside the broker's window.
NOIDA_SNAPSHOT_WINDOW_S = 1.5


class AckRecorder:
    """Wraps the sink; notes when the broker acknowledged each key."""

    def __init__(self, sink: RecordSink) -> None:
        self._sink = sink
        self.acked: dict[bytes, float] = {}

    async def send(self, topic: str, key: bytes, value: bytes, headers: Sequence[tuple[str, bytes]]) -> None:
        await self._sink.send(topic, key, value, headers)
        self.acked[key] = time.monotonic()


@pytest.mark.parametrize("signal", ["kill", "term"])
async def test_broker_outage_mid_burst_answers_503_and_loses_no_acknowledged_webhook(
        private_broker: EmbeddedBroker, capsys: pytest.CaptureFixture[str], signal: str) -> None:
    bootstrap = private_broker.bootstrap
    topic = new_topic_name()
    await create_topic(bootstrap, topic)
    await asyncio.sleep(NOIDA_SNAPSHOT_WINDOW_S)  # let the new topic reach noida's snapshot
    # ~350 webhooks/s for 2.5 s, then the broker is down for 2 s, then ~1 s more.
    total, concurrency, pace_s, up_before_s, outage_s = 1_300, 20, 0.05, 2.5, 2.0
    queue: asyncio.Queue[int] = asyncio.Queue()
    for order_id in range(1, total + 1):
        queue.put_nowait(order_id)
    answers: dict[int, int] = {}  # order id -> HTTP status
    phases: dict[str, float] = {}
    recorders: list[AckRecorder] = []

    def record_acks(sink: RecordSink) -> RecordSink:
        recorders.append(AckRecorder(sink))
        return recorders[-1]

    async def worker(http: aiohttp.ClientSession, url: str) -> None:
        while not queue.empty():
            order_id, status, _ = await _post(http, url, queue.get_nowait())
            answers[order_id] = status
            await asyncio.sleep(pace_s)  # a steady stream rather than one instant burst

    async def outage() -> None:
        await asyncio.sleep(up_before_s)
        phases["signalled"] = time.monotonic()
        await asyncio.to_thread(private_broker.stop, kill=signal == "kill", remove=False)
        phases["exited"] = time.monotonic()
        await asyncio.sleep(outage_s)
        await asyncio.to_thread(private_broker.start)
        phases["restarted"] = time.monotonic()

    async with serve_ingest(bootstrap, topic, produce_timeout_s=1.0, wrap=record_acks) as url, \
            aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency)) as http:
        async with asyncio.timeout(HARD_CAP_S):
            await asyncio.gather(outage(), *(worker(http, url) for _ in range(concurrency)))

    acked = {int(key.rsplit(b"/", 1)[1]): at for key, at in recorders[0].acked.items()}
    ok = {i for i, status in answers.items() if status == 200}
    unavailable = {i for i, status in answers.items() if status == 503}
    records = await read_topic(bootstrap, topic)
    on_topic = {int(r.key.rsplit(b"/", 1)[1]) for r in records}
    lost = ok - on_topic
    after_restart = {i for i in ok if acked[i] > phases["restarted"]}
    window_start = phases["signalled"] - (NOIDA_SNAPSHOT_WINDOW_S if signal == "kill" else 0.0)
    must_survive = {i for i in ok if acked[i] < window_start}
    oldest_lost = max((phases["exited"] - acked[i] for i in lost), default=0.0)
    with capsys.disabled():
        print(f"\n[ingest outage/{signal}] {total} webhooks; broker {'kill -9' if signal == 'kill' else 'SIGTERM'} "
              f"after {up_before_s} s, down {phases['restarted'] - phases['signalled']:.1f} s: "
              f"{len(ok)} answered 200 ({len(after_restart)} after the restart), {len(unavailable)} answered 503 "
              f"({len(on_topic & unavailable)} of those on the topic anyway: Shopify's retry is a duplicate); "
              f"answered 200 but gone after the restart: {len(lost)} (acked at most {oldest_lost:.2f} s before "
              f"the broker exited); acked before that window and all kept: {len(must_survive)}")

    assert len(answers) == total and set(answers.values()) <= {200, 503}
    assert ok <= set(acked), "a webhook was answered 200 without a broker ack"
    assert unavailable, "the outage produced no 503 at all"
    assert after_restart, "nothing was acknowledged after the broker came back"
    assert not lost & after_restart
    assert must_survive and not lost & must_survive
    # An ack is timestamped when its callback runs, which on a busy machine can be a little after
    # the kill returned: allow the loop that much slack at the upper end.
    assert all(window_start <= acked[i] <= phases["exited"] + 0.5 for i in lost), \
        "an acknowledged webhook was lost outside the broker's unsaved window"
    for r in records:
        assert r.value == order_body(int(r.key.rsplit(b"/", 1)[1]))
