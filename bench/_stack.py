"""Shared plumbing for the benchmarks: throwaway servers, a bench fixture, realistic orders,
process CPU/RSS readings and table printing.

Copied (not imported) from tests/support so the benchmarks don't depend on the test tree.
Every server is on loopback and is stopped by the `Servers` context manager.
"""
from __future__ import annotations

import asyncio
import json
import os
import random
import resource
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg

from mortard.testing.shopify import T0, LineSpec, OrderSpec, Webhook, order_payload, webhook
from mortard.testing import EmbeddedBroker, EmbeddedPostgres, free_port
from mortard.store.db import migrate

ROOT = Path(__file__).resolve().parents[1]
PY = sys.executable
FIXTURE = ROOT / "mortard" / "sandbox" / "fixtures" / "default.json"
CLK_TCK = os.sysconf("SC_CLK_TCK")


BROKER_HELP = ("Kafka emulator: noida (default in tests) or tansu. noida answers empty fetches at once "
               "(ignores fetch.max.wait), so an idle aiokafka consumer spins ~0.9 core against it")


def quiet_logs(level: str = "warning") -> None:
    """Keep structlog (used by the library code running in this process) below `level`."""
    from mortard.ops import configure_logging
    configure_logging(json=True, level=level, stream=open(os.devnull, "w"))


# ----------------------------------------------------------------------------------- processes
def proc_cpu(pid: int) -> float:
    """user+system CPU seconds of a live process (from /proc/<pid>/stat)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def tree_cpu(pid: int) -> float:
    """CPU seconds of a process, its reaped children and its live children (e.g. postmaster +
    backends, which come and go)."""
    def full(p: int) -> float:
        with open(f"/proc/{p}/stat") as f:
            x = f.read().rsplit(")", 1)[1].split()
        return sum(int(v) for v in x[11:15]) / CLK_TCK
    total = full(pid)
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                x = f.read().rsplit(")", 1)[1].split()
            if int(x[1]) == pid:
                total += full(int(entry))
        except (OSError, ValueError):
            continue
    return total


async def wait_idle(pid: int, *, below: float = 0.05, window: float = 1.0, timeout: float = 60.0) -> float:
    """Wait until a process uses less than `below` of a core over `window` s (noida keeps flushing
    for several seconds after a large produce). Returns the seconds waited."""
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < timeout:
        c0 = proc_cpu(pid)
        await asyncio.sleep(window)
        if proc_cpu(pid) - c0 < below * window:
            break
    return time.perf_counter() - t0


def pg_pid(pg: Any) -> int | None:
    try:
        return int((pg.data_dir / "postmaster.pid").read_text().split()[0])
    except (OSError, ValueError, AssertionError, IndexError):
        return None


def proc_mem(pid: int | str = "self") -> dict[str, float]:
    """VmRSS and VmHWM (peak RSS) in MiB."""
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(("VmRSS:", "VmHWM:")):
                k, v = line.split(":", 1)
                out[k] = int(v.split()[0]) / 1024
    return out


def self_cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


def load_avg() -> str:
    return "/".join(f"{x:.2f}" for x in os.getloadavg())


_START_LOAD = load_avg()


def calibration_s() -> float:
    """CPU seconds for a fixed pure-Python loop. This VM's cores run it up to a third slower or faster
    from one minute to the next, depending on what its host is doing, and every CPU-per-unit figure
    moves with it: quote it with them."""
    t0 = time.process_time()
    total = 0
    for i in range(5_000_000):
        total += i * i
    return time.process_time() - t0


_START_CALIBRATION = calibration_s()


def conditions() -> str:
    return (f"{os.cpu_count()} cores, load avg {_START_LOAD} (1/5/15 min) at start, now {load_avg()}, "
            f"CPU calibration {_START_CALIBRATION:.2f} s at start, {calibration_s():.2f} s now (lower = faster host), "
            f"Python {sys.version.split()[0]}")


# ----------------------------------------------------------------------------------- servers
def _wait_http(url: str, proc: subprocess.Popen[bytes], timeout: float = 20.0) -> None:
    import urllib.request
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode} before {url} answered")
        try:
            with urllib.request.urlopen(url, timeout=0.5) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"{url} did not answer within {timeout}s")


@dataclass
class SandboxProc:
    """`python -m mortard.sandbox` in its own process (honest client CPU numbers)."""

    fixture: Path | None = None
    faults: dict[str, Any] | None = None
    port: int = 0
    proc: subprocess.Popen[bytes] | None = None
    log_path: Path | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, log_dir: Path) -> SandboxProc:
        self.port = self.port or free_port()
        cmd = [PY, "-m", "mortard.sandbox", "--port", str(self.port)]
        if self.fixture:
            cmd += ["--fixture", str(self.fixture)]
        if self.faults:
            cmd += ["--faults", json.dumps(self.faults)]
        self.log_path = log_dir / f"sandbox-{self.port}.log"
        with open(self.log_path, "ab") as out:
            self.proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                         start_new_session=True)
        _wait_http(f"{self.url}/_sandbox/health", self.proc)
        return self

    def cpu(self) -> float:
        assert self.proc is not None
        return proc_cpu(self.proc.pid)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None


@dataclass
class Servers:
    """Embedded Postgres + noida broker (+ optional sandbox subprocess) for one benchmark run."""

    sandbox_fixture: Path | None = None
    sandbox_faults: dict[str, Any] | None = None
    with_sandbox: bool = False
    with_kafka: bool = True
    with_postgres: bool = True
    broker_kind: str = "noida"
    pg_settings: dict[str, str] = field(default_factory=dict)
    pg: EmbeddedPostgres | None = None
    broker: EmbeddedBroker | None = None
    sandbox: SandboxProc | None = None
    tmp: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="mortard-bench-")))

    def __enter__(self) -> Servers:
        try:
            if self.with_postgres:
                self.pg = EmbeddedPostgres(settings=self.pg_settings).start()
            if self.with_kafka:
                self.broker = EmbeddedBroker(self.broker_kind).start()
            if self.with_sandbox:
                self.sandbox = SandboxProc(self.sandbox_fixture, self.sandbox_faults).start(self.tmp)
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        if self.sandbox is not None:
            self.sandbox.stop()
        if self.broker is not None:
            self.broker.stop()
        if self.pg is not None:
            self.pg.stop()
        import shutil
        shutil.rmtree(self.tmp, ignore_errors=True)


async def fresh_database(pg_url: str, name: str | None = None) -> str:
    """Create and migrate a new database on the server; return its URL."""
    name = name or f"bench_{uuid.uuid4().hex[:8]}"
    conn = await asyncpg.connect(pg_url)
    try:
        await conn.execute(f"CREATE DATABASE {name}")
    finally:
        await conn.close()
    url = pg_url.rpartition("/")[0] + "/" + name
    conn = await asyncpg.connect(url)
    try:
        await migrate(conn)
    finally:
        await conn.close()
    return url


async def create_topic(bootstrap: str, name: str, partitions: int = 8) -> None:
    from mortard.consume.topics import create_topic as create
    await create(bootstrap, name, partitions)


async def produce(bootstrap: str, topic: str, hooks: Sequence[Webhook], *, chunk: int = 2000) -> float:
    """Send the webhooks (acks=all, keyed <shop>/<order id>, Shopify headers); returns seconds taken."""
    from aiokafka import AIOKafkaProducer
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5,
                                max_batch_size=256 * 1024)
    await producer.start()
    t0 = time.perf_counter()
    try:
        for i in range(0, len(hooks), chunk):
            futures = [await producer.send(topic, value=h.body, key=h.key, headers=h.kafka_headers())
                       for h in hooks[i:i + chunk]]
            await asyncio.gather(*futures)
    finally:
        await producer.stop()
    return time.perf_counter() - t0


class Producer:
    """One long-lived producer (acks=all, 5 ms linger, as `produce`), for events sent one at a time."""

    def __init__(self, bootstrap: str) -> None:
        from aiokafka import AIOKafkaProducer
        self._producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5)

    async def __aenter__(self) -> Producer:
        await self._producer.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._producer.stop()

    async def send(self, topic: str, hook: Webhook) -> float:
        """Send one webhook and wait for its ack; returns seconds taken."""
        t0 = time.perf_counter()
        await (await self._producer.send(topic, value=hook.body, key=hook.key, headers=hook.kafka_headers()))
        return time.perf_counter() - t0


# ----------------------------------------------------------------------------------- fixture
SKU_COUNT = 200          # SKUs the generated orders draw from
ON_HAND = 1_000_000      # per SKU, at the first store: stock is plentiful so every order invoices


def bench_fixture(path: Path, accounts: int) -> tuple[list[str], dict[str, Decimal]]:
    """Write a fixture with `accounts` copies of the default `acme` account (bench1..benchK), the first
    SKU_COUNT active tracked SKUs stocked ON_HAND at S01. Returns (account names, sku -> price)."""
    base = json.loads(FIXTURE.read_text())
    acme = base["accounts"]["acme"]
    items = [i for i in acme["items"] if i["public_id"].startswith("SKU-")
             and i.get("active", True) and i.get("track_inventory", True)][:SKU_COUNT]
    prices = {i["public_id"]: Decimal(str(i["price"])) for i in items}
    stocked = [{"item": sku, "location": "S01", "on_hand": ON_HAND} for sku in prices]
    names = [f"bench{i}" for i in range(1, accounts + 1)]
    out = {"description": f"mortard bench: {accounts} copies of acme, {len(prices)} SKUs stocked at S01",
           "faults": base.get("faults", {}), "rules": base.get("rules", {}), "accounts": {}}
    for name in names:
        acc = json.loads(json.dumps(acme))
        acc["token"] = f"sandbox-token-{name}"
        keep = {(r["item"], r["location"]) for r in stocked}
        acc["inventory"] = [r for r in acc.get("inventory", []) if (r.get("item"), r.get("location")) not in keep]
        acc["inventory"] += stocked
        out["accounts"][name] = acc
    path.write_text(json.dumps(out))
    return names, prices


# ----------------------------------------------------------------------------------- orders
def shop_of(account: str) -> str:
    return f"{account}-store.myshopify.com"


def random_order(rng: random.Random, order_id: int, prices: dict[str, Decimal], buyers: int = 2000) -> OrderSpec:
    """1–4 lines (50/30/15/5 %), qty 1–3, a 10–20 % discount on a quarter of the lines, shipping on
    60 % of orders, customers from a pool of 2,000 e-mails (so repeat buyers are found, not created)."""
    skus = list(prices)
    n = rng.choices((1, 2, 3, 4), weights=(50, 30, 15, 5))[0]
    lines = []
    for sku in rng.sample(skus, n):
        qty = rng.choice((1, 1, 1, 2, 2, 3))
        price = prices[sku]
        discount = (price * qty * Decimal(rng.choice((10, 15, 20))) / 100).quantize(Decimal("0.01")) \
            if rng.random() < 0.25 else Decimal("0.00")
        lines.append(LineSpec(sku, qty, price, discount))
    shipping = rng.choice((Decimal("5.99"), Decimal("7.50"), Decimal("12.00"))) if rng.random() < 0.6 \
        else Decimal("0.00")
    buyer = rng.randrange(buyers)
    return OrderSpec(order_id, 1000 + order_id, lines, shipping=shipping, email=f"buyer{buyer}@example.com",
                     first_name=f"Buyer{buyer}", last_name="Bench")


def order_events(rng: random.Random, shops: Sequence[str], prices: dict[str, Decimal], n_events: int,
                 *, first_id: int = 5_000_000, update_share: float = 0.3, buyers: int = 2000) -> list[Webhook]:
    """A realistic event stream: orders/create per order, and for `update_share` of them an
    orders/updated a little later (paid, tags). Orders are spread round-robin over the shops."""
    hooks: list[Webhook] = []
    oid = first_id
    pending_updates: list[tuple[str, OrderSpec]] = []
    while len(hooks) < n_events:
        if pending_updates and rng.random() < update_share:
            shop, spec = pending_updates.pop(rng.randrange(len(pending_updates)))
            spec.tags = ["vip"] if rng.random() < 0.5 else ["gift"]
            payload = order_payload(spec, updated_at=T0 + timedelta(seconds=spec.order_id % 86_400 + 60))
            hooks.append(webhook("orders/updated", shop, payload))
            continue
        shop = shops[oid % len(shops)]
        spec = random_order(rng, oid, prices, buyers)
        hooks.append(webhook("orders/create", shop, order_payload(spec)))
        pending_updates.append((shop, spec))
        oid += 1
    return hooks


# ----------------------------------------------------------------------------------- sandbox
async def sandbox_requests(http: aiohttp.ClientSession, url: str) -> dict[str, Any]:
    async with http.get(f"{url}/_sandbox/requests") as r:
        r.raise_for_status()
        return await r.json()


def tally_requests(counters: dict[str, Any]) -> tuple[dict[str, int], int, int]:
    """(calls by 'METHOD /route', total, 429s) over all accounts."""
    by_kind: dict[str, int] = {}
    total = limited = 0
    for acc in counters.values():
        for route, statuses in acc.get("requests", {}).items():
            for status, n in statuses.items():
                by_kind[route] = by_kind.get(route, 0) + n
                total += n
                if str(status) == "429":
                    limited += n
    return by_kind, total, limited


# ----------------------------------------------------------------------------------- output
def percentile(values: Sequence[float], p: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    k = min(len(s) - 1, max(0, round(p / 100 * (len(s) - 1))))
    return s[k]


def print_table(title: str, rows: Sequence[tuple[str, Any, str]]) -> None:
    """rows: (metric, value, goal/note)."""
    def fmt(v: Any) -> str:
        if isinstance(v, float):
            return f"{v:,.3f}" if abs(v) < 10 else f"{v:,.1f}"
        if isinstance(v, int):
            return f"{v:,}"
        return str(v)
    cells = [(m, fmt(v), g) for m, v, g in rows]
    w1 = max(len("metric"), *(len(c[0]) for c in cells))
    w2 = max(len("value"), *(len(c[1]) for c in cells))
    print()
    print(title)
    print(f"| {'metric'.ljust(w1)} | {'value'.rjust(w2)} | goal / note")
    print(f"|{'-' * (w1 + 2)}|{'-' * (w2 + 2)}|{'-' * 13}")
    for m, v, g in cells:
        print(f"| {m.ljust(w1)} | {v.rjust(w2)} | {g}")
    sys.stdout.flush()


def port_open(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0
