"""Whole-pipeline benchmark: Kafka → inbox → sync → sandbox (HTTP) → Postgres, with the daemon as a
`mortard run` subprocess (generated TOML, JSON logs at info to a file) so its CPU and RSS are its own.

Pushes N realistic orders/create events (1–4 lines, discounts, shipping; stock plentiful so they
invoice) for K shops/accounts at once (a backlog), waits until every order is invoiced, and prints
one table. Goals: >= 200 orders/s with no limit; with `--rate-limit R --accounts K`, >= 90 % of the
ceiling K·R ÷ calls-per-order with < 1 % of calls answered 429.

    .venv/bin/python bench/pipeline.py [--orders 2000] [--accounts 2]
    .venv/bin/python bench/pipeline.py --rate-limit 50 --accounts 2 [--orders 600]
    .venv/bin/python bench/pipeline.py --soak 600 [--soak-rate 20] [--backlog 10000]
"""
from __future__ import annotations

import argparse
import asyncio
import os
import random
import re
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _stack as S  # noqa: E402
from mortard.testing import free_port  # noqa: E402

PAST_MAX = 4_999_999   # seeded past orders have ids up to this; the bench's own start at 5,000,000
FINAL = ("invoiced", "waiting_stock", "open", "pending", "dead", "cancelled", "ignored", "failed")


def fault_settings(args: argparse.Namespace) -> dict[str, Any] | None:
    """The sandbox's global fault settings for this run: the rate limit and the injected latency."""
    glob: dict[str, Any] = {}
    if args.rate_limit is not None:
        glob.update(rate_limit_rps=args.rate_limit, rate_limit_burst=args.burst)
    if args.latency_ms:
        glob["latency_ms"] = args.latency_ms
    return {"global": glob} if glob else None


def write_config(path: Path, *, db_url: str, bootstrap: str, topic: str, sandbox_url: str, accounts: list[str],
                 rate: float, burst: int, max_concurrency: int, ops_port: int, in_flight: int) -> dict[str, str]:
    lines = [
        "[database]", f'url = "{db_url}"', "min_pool = 2", "max_pool = 20", "",
        "[kafka]", f'bootstrap = "{bootstrap}"', f'topic = "{topic}"', f'dead_letter_topic = "{topic}.dead"',
        f'group_id = "bench-{topic}"', "session_timeout_ms = 6000", "heartbeat_interval_ms = 1000",
        "commit_interval_s = 1.0", "partitions = 8", "",
        "[daemon]", f"ops_port = {ops_port}", "sweep_interval_s = 1.0", "drain_timeout_s = 20",
        f"max_orders_in_flight = {in_flight}", "",
        "[logging]", 'level = "info"', 'format = "json"', "",
    ]
    env = {}
    for name in accounts:
        env[f"BENCH_TOKEN_{name.upper()}"] = f"sandbox-token-{name}"
        lines += [f"[heartland.accounts.{name}]", f'token_env = "BENCH_TOKEN_{name.upper()}"',
                  f'base_url = "{sandbox_url}/{name}/api/"', f"rate_per_second = {rate}", f"burst = {burst}",
                  f"max_concurrency = {max_concurrency}", "request_timeout_s = 10.0", ""]
    for name in accounts:
        lines += [f'[shops."{S.shop_of(name)}"]', f'heartland_account = "{name}"', ""]
    path.write_text("\n".join(lines))
    return env


class DaemonProc:
    def __init__(self, cfg: Path, env: dict[str, str], log: Path, ops_port: int, cprofile: str | None = None,
                 cpu_sample: str | None = None) -> None:
        self.cfg, self.env, self.log, self.ops_port = cfg, env, log, ops_port
        self.cprofile, self.cpu_sample = cprofile, cpu_sample
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        exe = Path(S.PY).parent / "mortard"
        cmd = [str(exe)] if exe.exists() else [S.PY, "-m", "mortard"]
        if self.cprofile:
            cmd = [S.PY, str(Path(__file__).with_name("_cpuprofile.py")), self.cprofile, "--"]
        elif self.cpu_sample:
            cmd = [S.PY, str(Path(__file__).with_name("_cpusample.py")), self.cpu_sample, "--"]
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen([*cmd, "run", "-c", str(self.cfg)], stdout=out, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, env={**os.environ, **self.env},
                                         start_new_session=True)

    async def wait_ready(self, http: aiohttp.ClientSession, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise RuntimeError(f"daemon exited with {self.proc.returncode}; see {self.log}")
            try:
                async with http.get(f"http://127.0.0.1:{self.ops_port}/readyz") as r:
                    if r.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.2)
        raise TimeoutError(f"daemon not ready in {timeout}s; see {self.log}")

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def cpu(self) -> float:
        return S.proc_cpu(self.pid)

    def mem(self) -> dict[str, float]:
        return S.proc_mem(self.pid)

    def stop(self) -> int | None:
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(40)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait()


class DaemonGroup:
    """N daemons in one consumer group (how mortard scales out), read as one: CPU summed, memory the
    largest. Daemon i > 0 gets its own ops port and log."""

    def __init__(self, first: DaemonProc, n: int) -> None:
        self.members = [first]
        for i in range(1, n):
            port = free_port()
            self.members.append(DaemonProc(first.cfg, {**first.env, "MORTARD_DAEMON__OPS_PORT": str(port)},
                                           first.log.with_name(f"daemon{i}.log"), port, None))
        self.log = first.log

    @property
    def pid(self) -> int:
        return self.members[0].pid

    def start(self) -> None:
        for d in self.members:
            d.start()

    async def wait_ready(self, http: aiohttp.ClientSession) -> None:
        for d in self.members:
            await d.wait_ready(http)

    def cpu(self) -> float:
        return sum(d.cpu() for d in self.members)

    def mem(self) -> dict[str, float]:
        readings = [d.mem() for d in self.members]
        return {k: max(r.get(k, 0.0) for r in readings) for k in readings[0]}

    def stop(self) -> int | None:
        codes = [d.stop() for d in self.members]
        return next((c for c in codes if c not in (0, None)), codes[0])


async def loop_lag_p99(http: aiohttp.ClientSession, port: int) -> str:
    """p99 event-loop lag from the daemon's histogram (upper bound of the bucket holding the 99th %)."""
    try:
        async with http.get(f"http://127.0.0.1:{port}/metrics") as r:
            text = await r.text()
    except aiohttp.ClientError:
        return "n/a"
    buckets = []
    for m in re.finditer(r'^mortard_event_loop_lag_distribution_seconds_bucket\{le="([^"]+)"\} (\S+)$', text, re.M):
        buckets.append((float(m.group(1)), float(m.group(2))))
    if not buckets or buckets[-1][1] == 0:
        return "n/a"
    total = buckets[-1][1]
    for le, n in buckets:
        if n >= 0.99 * total:
            return f"<= {le * 1000:g} ms" if le != float("inf") else "> last bucket"
    return "n/a"


async def kafka_lag(bootstrap: str, group: str, topic: str, produced: int, partitions: int = 8) -> int:
    """Records produced to the (fresh) topic minus the group's committed offsets (tansu's end_offsets is
    unreliable, so count from what we produced)."""
    from aiokafka import AIOKafkaConsumer, TopicPartition
    c = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False)
    await c.start()
    try:
        committed = 0
        for p in range(partitions):
            committed += await c.committed(TopicPartition(topic, p)) or 0
        return produced - committed
    finally:
        await c.stop()


def other_cpu(servers: S.Servers) -> dict[str, float]:
    out = {}
    if servers.sandbox and servers.sandbox.proc:
        out["sandbox"] = servers.sandbox.cpu()
    pid = S.pg_pid(servers.pg)
    if pid:
        out["postgres"] = S.tree_cpu(pid)
    if servers.broker and servers.broker._proc:
        out["broker"] = S.proc_cpu(servers.broker._proc.pid)
    out["bench"] = S.self_cpu()
    return out


def start_py_spy(out: str | None, pid: int) -> subprocess.Popen[bytes] | None:
    if not out:
        return None
    import shutil
    exe = os.environ.get("PY_SPY") or shutil.which("py-spy")
    if not exe:
        print("py-spy not found (pip install py-spy, or set PY_SPY=/path/to/py-spy); not profiling")
        return None
    fmt = "speedscope" if out.endswith(".json") else "flamegraph" if out.endswith(".svg") else "raw"
    return subprocess.Popen([exe, "record", "--pid", str(pid), "--rate", "200", "--format", fmt, "-o", out,
                             "--nonblocking"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def stop_py_spy(proc: subprocess.Popen[bytes] | None, out: str | None, what: str = "daemon") -> None:
    if proc is None:
        return
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()
    print(f"py-spy profile of the {what} written to {out}")


async def seed_past_orders(db_url: str, shops: list[str], n: int, journal_rows: int) -> None:
    """N invoiced past orders spread over the shops, each with one event, `journal_rows` answered
    journal rows and its order document, written in bulk (INSERT … SELECT generate_series), then
    ANALYZE, as a database a year into production would hold them. Order ids are below the bench's."""
    conn = await asyncpg.connect(db_url)
    try:
        shops_sql = "ARRAY[" + ",".join(f"'{s}'" for s in shops) + "]"
        snap = ('jsonb_build_object(\'id\', g, \'name\', \'#\' || g, \'email\', \'past\' || g || \'@example.com\', '
                '\'line_items\', jsonb_build_array(jsonb_build_object(\'id\', g * 10, \'sku\', \'SKU-0001\', '
                '\'quantity\', 1, \'price\', \'19.99\')), \'total_price\', \'21.59\')')
        shop = f"({shops_sql})[1 + g % {len(shops)}]"
        await conn.execute(f"""
            INSERT INTO orders (shop, order_id, order_name, snapshot, sync_state, heartland_account,
                                heartland_order_id, mirror, due_seq, done_seq, first_event_at, invoiced_at)
            SELECT {shop}, g, '#' || g, {snap}, 'invoiced', 'bench', g,
                   jsonb_build_object('order_id', g, 'status', 'open'), 1, 1,
                   now() - interval '1 day', now() - interval '1 day'
            FROM generate_series(1, {n}) g""")
        await conn.execute(f"""
            INSERT INTO events (shop, order_id, topic, dedupe_key, webhook_id, kafka_topic, kafka_partition,
                                kafka_offset, payload, received_at)
            SELECT {shop}, g, 'orders/create', 'past-' || g, 'past-' || g, 'orders-past', g % 8, g, {snap},
                   now() - interval '1 day'
            FROM generate_series(1, {n}) g""")
        if journal_rows:
            await conn.execute(f"""
                INSERT INTO journal (shop, order_id, action, fingerprint, request, status, heartland_id,
                                     http_status, sent_at, finished_at)
                SELECT {shop}, g, 'add_line', md5(g::text || '/' || k), jsonb_build_object('order_id', g, 'qty', k),
                       'ok', g * 100 + k, 201, now() - interval '1 day', now() - interval '1 day'
                FROM generate_series(1, {n}) g, generate_series(1, {journal_rows}) k""")
        await conn.execute(f"""
            INSERT INTO heartland_documents (shop, order_id, kind, heartland_id, public_id)
            SELECT {shop}, g, 'order', g, '#' || g FROM generate_series(1, {n}) g""")
        await conn.execute("ANALYZE")
    finally:
        await conn.close()


async def idle_cpu(daemon: DaemonGroup, seconds: float) -> float:
    """Share of a core the daemon uses over `seconds` with nothing to do (after 1 s to wind down)."""
    await asyncio.sleep(1.0)
    c0, t0 = daemon.cpu(), time.perf_counter()
    await asyncio.sleep(seconds)
    return (daemon.cpu() - c0) / (time.perf_counter() - t0)


LIGHT_FIRST = 7_000_000   # --light orders' ids, in the order they are produced


def light_orders(rng: random.Random, shops: list[str], prices: dict, n: int) -> list:
    """n orders of 2 lines (qty 1, no discount), each from a new customer, round-robin over the shops."""
    from mortard.testing.shopify import LineSpec, OrderSpec, order_payload, webhook
    out = []
    for i in range(n):
        oid = LIGHT_FIRST + i
        skus = rng.sample(list(prices), 2)
        spec = OrderSpec(oid, 1000 + oid, [LineSpec(k, 1, prices[k]) for k in skus], shipping=S.Decimal("5.99"),
                         email=f"light{oid}@example.com", first_name=f"Light{i}", last_name="Bench")
        out.append(webhook("orders/create", shops[i % len(shops)], order_payload(spec)))
    return out


async def settled(pool: asyncpg.Pool) -> tuple[int, int]:
    row = await pool.fetchrow(
        "SELECT count(*) FILTER (WHERE sync_state = ANY($1::text[]) AND due_seq = done_seq AND lease_owner IS NULL)"
        " AS done, count(*) FILTER (WHERE sync_state = 'invoiced') AS invoiced FROM orders"
        f" WHERE order_id > {PAST_MAX}", list(FINAL))
    return int(row["done"]), int(row["invoiced"])


async def produce_paced(bootstrap: str, topic: str, hooks: list, rate: float, until: float) -> int:
    """Produce at `rate` events/s until `until` (perf_counter) or the hooks run out; returns count sent."""
    from aiokafka import AIOKafkaProducer
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5)
    await producer.start()
    sent = 0
    t0 = time.perf_counter()
    try:
        while sent < len(hooks) and time.perf_counter() < until:
            due = int((time.perf_counter() - t0) * rate) + 1
            batch = hooks[sent:min(due, len(hooks))]
            futs = [await producer.send(topic, value=h.body, key=h.key, headers=h.kafka_headers()) for h in batch]
            await asyncio.gather(*futs)
            sent += len(batch)
            await asyncio.sleep(0.1)
    finally:
        await producer.stop()
    return sent


async def run(args: argparse.Namespace, servers: S.Servers, names: list[str], prices: dict) -> int:
    assert servers.pg and servers.broker and servers.sandbox
    rng = random.Random(args.seed)
    shops = [S.shop_of(n) for n in names[:args.accounts]]   # the rest (--quiet-accounts) get no orders
    db_url = await S.fresh_database(servers.pg.url)
    if not args.pg_tcp and (socket_url := servers.pg.socket_url(db_url.rpartition("/")[2])):
        db_url = socket_url   # a Postgres on the same machine is reached over its Unix socket
    if args.past_orders:
        t = time.perf_counter()
        if args.past_orders > PAST_MAX:
            raise SystemExit(f"--past-orders at most {PAST_MAX:,}")
        await seed_past_orders(db_url, shops, args.past_orders, args.past_journal_rows)
        print(f"seeded {args.past_orders:,} past orders ({args.past_journal_rows} journal rows each) "
              f"in {time.perf_counter() - t:.0f}s", flush=True)
    topic = f"orders-{uuid.uuid4().hex[:8]}"
    await S.create_topic(servers.broker.bootstrap, topic, 8)
    ops_port = free_port()
    limited = args.rate_limit is not None
    rate = args.rate_limit * args.client_rate_factor if limited else 10_000.0
    burst = (args.client_burst or args.burst) if limited else 1000
    env = write_config(servers.tmp / "bench.toml", db_url=db_url, bootstrap=servers.broker.bootstrap, topic=topic,
                       sandbox_url=servers.sandbox.url, accounts=names, rate=rate, burst=burst,
                       max_concurrency=args.max_concurrency, ops_port=ops_port, in_flight=args.in_flight)
    daemon = DaemonGroup(DaemonProc(servers.tmp / "bench.toml", env, servers.tmp / "daemon.log", ops_port,
                                    args.cprofile, args.cpu_sample), args.daemons)
    pool = await asyncpg.create_pool(db_url, min_size=1, max_size=2)
    rc = 0
    async with aiohttp.ClientSession() as http:
        daemon.start()
        try:
            await daemon.wait_ready(http)
            if args.soak:
                rc = await soak(args, servers, daemon, pool, http, rng, shops, prices, topic)
            else:
                rc = await burst_run(args, servers, daemon, pool, http, rng, shops, prices, topic, limited, ops_port)
        finally:
            code = daemon.stop()
            if code not in (0, None):
                print(f"daemon exited with {code}; log: {daemon.log}")
            await pool.close()
    if rc and args.keep_log:
        import shutil
        shutil.copy(servers.tmp / "daemon.log", args.keep_log)
        print(f"daemon log copied to {args.keep_log}")
    return rc


async def burst_run(args: argparse.Namespace, servers: S.Servers, daemon: DaemonGroup, pool: asyncpg.Pool,
                    http: aiohttp.ClientSession, rng: random.Random, shops: list[str], prices: dict, topic: str,
                    limited: bool, ops_port: int) -> int:
    assert servers.broker and servers.sandbox
    if args.light:
        n = args.light
        hooks = light_orders(rng, shops, prices, n)
    else:
        n = args.orders or (max(200, int(45 * len(shops) * args.rate_limit / 11)) if limited else 2000)
        hooks = S.order_events(rng, shops, prices, n, update_share=0.0, buyers=args.buyers)
    await asyncio.sleep(1.0)   # let the daemon's startup calls (catalogs) finish before the baseline
    req0 = await S.sandbox_requests(http, servers.sandbox.url)
    cpu0 = daemon.cpu()
    others0 = other_cpu(servers)
    xact0 = await pool.fetchval("SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()")
    if args.pg_statements:
        await pool.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements; SELECT pg_stat_statements_reset()")
    spy = start_py_spy(args.py_spy, daemon.pid)
    spy_sandbox = start_py_spy(args.py_spy_sandbox, servers.sandbox.proc.pid) if servers.sandbox.proc else None
    t0 = time.time()
    p0 = time.perf_counter()
    deadline = p0 + args.timeout
    produced_at: list[float] = []   # light: when each order's event was sent
    if args.light:   # one order at a time: each produced once the one before has settled
        produce_s = 0.0
        # One producer for all, as the ingest service keeps one (a new producer's first record
        # reached the daemon ~60 ms late on Tansu, whatever the daemon did).
        async with S.Producer(servers.broker.bootstrap) as producer:
            for i, hook in enumerate(hooks):
                produced_at.append(time.time())
                produce_s += await producer.send(topic, hook)
                while time.perf_counter() < deadline and (await settled(pool))[0] < i + 1:
                    await asyncio.sleep(0.02)
    else:
        produce_s = await S.produce(servers.broker.bootstrap, topic, hooks)
    done = invoiced = 0
    while time.perf_counter() < deadline:
        done, invoiced = await settled(pool)
        if done >= n:
            break
        await asyncio.sleep(0.25)
    t_end = time.perf_counter()
    cpu = daemon.cpu() - cpu0
    others = {k: v - others0.get(k, 0.0) for k, v in other_cpu(servers).items()}
    idle = await idle_cpu(daemon, args.idle) if args.idle else float("nan")
    stop_py_spy(spy, args.py_spy)
    stop_py_spy(spy_sandbox, args.py_spy_sandbox, "sandbox")
    await asyncio.sleep(0.6)   # pg_stat is flushed at most every 0.5 s
    xacts = await pool.fetchval("SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()") - xact0
    req1 = await S.sandbox_requests(http, servers.sandbox.url)
    lag_p99 = await loop_lag_p99(http, ops_port)
    mem = daemon.mem()
    rows = await pool.fetch("SELECT extract(epoch FROM invoiced_at) AS inv, "
                            "extract(epoch FROM invoiced_at - first_event_at) AS lat FROM orders "
                            f"WHERE order_id > {PAST_MAX} AND invoiced_at IS NOT NULL ORDER BY invoiced_at")
    first_row = await pool.fetchval(f"SELECT extract(epoch FROM min(received_at)) FROM events WHERE order_id > {PAST_MAX}")
    states = {r["sync_state"]: r["n"] for r in await pool.fetch(
        f"SELECT sync_state, count(*) AS n FROM orders WHERE order_id > {PAST_MAX} GROUP BY sync_state")}
    events = await pool.fetchval(f"SELECT count(*) FROM events WHERE order_id > {PAST_MAX}")
    await asyncio.sleep(2.5)   # > commit interval: the committed offsets catch up
    lag = await kafka_lag(servers.broker.bootstrap, f"bench-{topic}", topic, n)

    by0, tot0, l0 = S.tally_requests(req0)
    by1, tot1, l1 = S.tally_requests(req1)
    calls = {k: by1.get(k, 0) - by0.get(k, 0) for k in by1 if by1.get(k, 0) - by0.get(k, 0)}
    total_calls, n429 = tot1 - tot0, l1 - l0
    ok_calls = total_calls - n429
    inv_times = [float(r["inv"]) for r in rows]
    lats = [float(r["lat"]) for r in rows]
    wall = (inv_times[-1] - t0) if inv_times else t_end - p0
    rate_all = invoiced / wall if wall > 0 else 0.0
    if len(inv_times) >= 20:
        a, b = inv_times[len(inv_times) // 10], inv_times[len(inv_times) * 9 // 10]
        rate_mid = (len(inv_times) * 9 // 10 - len(inv_times) // 10) / (b - a) if b > a else float("nan")
    else:
        rate_mid = float("nan")
    cpo = ok_calls / max(1, invoiced)
    stack_ms = (cpu + sum(v for k, v in others.items() if k != "bench")) / max(1, invoiced) * 1000
    table: list[tuple[str, Any, str]] = [
        ("orders pushed / invoiced", f"{n:,} / {invoiced:,}",
         "all settled" if done >= n else f"TIMED OUT after {args.timeout:g}s ({done} settled)"),
        ("order states", ", ".join(f"{k} {v}" for k, v in sorted(states.items())), ""),
        ("produce time", produce_s, f"s for {n:,} events (a backlog)"),
        ("orders/s end to end", rate_all, "produce start → last invoiced"
         + ("" if limited else f"; goal >= 200 -> {'PASS' if rate_all >= 200 else 'FAIL'}")),
        ("orders/s steady (10th→90th pct)", rate_mid, "between the 10th and 90th percentile invoice"),
        ("first event stored / first invoice, s", f"{float(first_row) - t0:.2f} / {inv_times[0] - t0:.2f}"
         if inv_times and first_row is not None else "-", "after the produce started"),
        ("last 10 % of orders took, s", inv_times[-1] - inv_times[len(inv_times) * 9 // 10] if len(inv_times) >= 20
         else float("nan"), "90th percentile invoice → last"),
        ("event→invoiced p50 s", S.percentile(lats, 50), "orders.invoiced_at - first_event_at"),
        ("event→invoiced p99 s", S.percentile(lats, 99), "(a backlog: includes queueing)"),
        ("Heartland calls per order", cpo, f"{ok_calls:,} non-429 calls"),
    ]
    for kind, c in sorted(calls.items(), key=lambda kv: -kv[1]):
        table.append((f"  {kind}", c / max(1, invoiced), "per order"))
    table += [
        ("daemon CPU ms per order", cpu / max(1, invoiced) * 1000, f"daemon CPU {cpu:.1f}s; §7 budget 1–2 ms"),
        ("other CPU ms per order", ", ".join(f"{k} {v / max(1, invoiced) * 1000:.1f}" for k, v in others.items()),
         f"same window; {t_end - p0:.1f}s wall x 2 cores = {(t_end - p0) * 2:.0f} CPU-s available"),
        ("whole-stack CPU ms per order", stack_ms, f"daemon+sandbox+postgres+broker -> this box's ceiling "
         f"≈ {(os.cpu_count() or 1) * 1000 / stack_ms if stack_ms else float('nan'):.0f} orders/s on {os.cpu_count()} cores"),
        ("Postgres transactions per order", xacts / max(1, invoiced), "pg_stat_database.xact_commit (incl. polling)"),
        ("daemon peak RSS MiB", mem.get("VmHWM", 0.0), f"now {mem.get('VmRSS', 0.0):.0f} MiB"),
        ("event-loop lag p99", lag_p99, "daemon's histogram; §7 goal < 50 ms"),
        ("events consumed / Kafka lag", f"{events:,} / {lag}", "lag 0 = drained and committed"),
        ("429 answers", f"{n429:,} ({n429 / max(1, total_calls) * 100:.2f} % of calls)",
         "goal < 1 %" if limited else ""),
        ("daemon idle CPU, caught up", f"{idle:.2%}" if idle == idle else "-",
         f"of a core over {args.idle:g}s after the last order settled; goal <= 1 %"),
    ]
    sandbox_ms = others.get("sandbox", 0.0) / max(1, invoiced) * 1000
    p50 = S.percentile(lats, 50)
    args.result = {"orders": n, "invoiced": invoiced, "settled": done >= n, "daemon_ms": cpu / max(1, invoiced) * 1000,
                   "sandbox_ms": sandbox_ms, "calls": cpo, "calls_by_route": {k: v / max(1, invoiced) for k, v in calls.items()},
                   "rate_mid": rate_mid, "rate_all": rate_all, "p50_s": p50, "n429": n429, "total_calls": total_calls,
                   "idle": idle, "daemon_ms_per_call": cpu / max(1, ok_calls) * 1000}
    if sandbox_ms:
        table.insert(table.index(next(r for r in table if r[0] == "daemon CPU ms per order")) + 1,
                     ("daemon CPU ÷ sandbox CPU per order", cpu / max(1, invoiced) * 1000 / sandbox_ms,
                      "the sandbox answers the same requests: a fixed yardstick; goal <= 1.0"))
    if produced_at:
        # The Kafka hop is outside event→invoiced (first_event_at is the inbox write): a buyer's wait
        # runs from the event reaching the topic.
        marks = await pool.fetch("SELECT order_id, extract(epoch FROM first_event_at) AS fe, "
                                 "extract(epoch FROM invoiced_at) AS inv FROM orders "
                                 f"WHERE order_id >= {LIGHT_FIRST} AND invoiced_at IS NOT NULL")
        sent = {LIGHT_FIRST + i: t for i, t in enumerate(produced_at)}   # an order not invoiced is left out
        hops = [float(r["fe"]) - sent[r["order_id"]] for r in marks]
        waits = [float(r["inv"]) - sent[r["order_id"]] for r in marks]
        table.append(("produce→stored p50 s (the Kafka hop)", S.percentile(hops, 50),
                      "orders.first_event_at - the time the bench produced the event"))
        table.append(("produce→invoiced p50 s", S.percentile(waits, 50), "what a buyer waits, one order at a time"))
    if args.light and args.latency_ms:
        table.append(("sequential round trips (p50 ÷ latency)", p50 / (args.latency_ms / 1000),
                      f"p50 event→invoiced ÷ {args.latency_ms:g} ms, one 2-line new-customer order at a time; goal <= 8"))
    rc = 0 if done >= n else 1
    if limited:
        # calls/order measured here is inflated when orders retried or failed; the ceiling uses the
        # unlimited run's figure (--nominal-calls) unless this run invoiced every order.
        base_cpo = cpo if done >= n and invoiced == n else args.nominal_calls
        ceiling = len(shops) * args.rate_limit / base_cpo
        frac = rate_mid / ceiling if rate_mid == rate_mid else rate_all / ceiling
        ok = frac >= 0.98 and n429 == 0
        args.result["ceiling_frac"] = frac
        table += [("ceiling K·R ÷ calls/order", ceiling, f"K={len(shops)}, R={args.rate_limit:g} req/s, {base_cpo:.1f} calls/order"),
                  ("orders/s ÷ ceiling", f"{frac:.1%}", f"steady rate; goal >= 98 % and 0.0 % 429 -> "
                                                       f"{'PASS' if ok else 'FAIL'}")]
    title = (f"bench/pipeline.py — {n:,} orders, {len(shops)} shop(s)/account(s), "
             + (f"sandbox limit {args.rate_limit:g} req/s/account (burst {args.burst}), daemon at "
                f"{args.rate_limit * args.client_rate_factor:g} req/s burst {args.client_burst or args.burst}" if limited else "no rate limit"))
    S.print_table(title, table)
    print(f"conditions: {S.conditions()}; broker {args.broker}; Postgres over {'TCP' if args.pg_tcp else 'its Unix socket'}; "
          f"{args.daemons} daemon(s), max_orders_in_flight={args.in_flight} each, "
          f"account max_concurrency={args.max_concurrency}")
    if args.pg_statements:
        await print_pg_statements(pool, n)
    return rc


async def print_pg_statements(pool: asyncpg.Pool, orders: int) -> None:
    """Postgres's own time per statement kind (pg_stat_statements), per order."""
    rows = await pool.fetch(
        "SELECT calls, total_exec_time AS ms, rows, regexp_replace(left(query, 300), '\\s+', ' ', 'g') AS q "
        "FROM pg_stat_statements ORDER BY total_exec_time DESC LIMIT 15")
    total = sum(r["ms"] for r in rows)
    print(f"\nPostgres execution time by statement (top 15: {total / orders:.2f} ms per order)")
    for r in rows:
        print(f"{r['ms'] / orders:7.3f} ms/order {r['calls'] / orders:6.2f} calls/order  {r['q'][:150]}")


async def soak(args: argparse.Namespace, servers: S.Servers, daemon: DaemonGroup, pool: asyncpg.Pool,
               http: aiohttp.ClientSession, rng: random.Random, shops: list[str], prices: dict, topic: str) -> int:
    assert servers.broker
    backlog = S.order_events(rng, shops, prices, args.backlog, update_share=0.3)
    steady = S.order_events(rng, shops, prices, int(args.soak * args.soak_rate) + 10,
                            first_id=9_000_000, update_share=0.3)
    cpu0 = daemon.cpu()
    t0 = time.perf_counter()
    print(f"soak: producing a {len(backlog):,}-event backlog, then {args.soak_rate:g} events/s for {args.soak:g}s; "
          "RSS every 10 s", flush=True)
    await S.produce(servers.broker.bootstrap, topic, backlog)
    producer = asyncio.create_task(produce_paced(servers.broker.bootstrap, topic, steady, args.soak_rate,
                                                 t0 + args.soak))
    samples: list[tuple[float, float, int, int]] = []
    while time.perf_counter() < t0 + args.soak:
        await asyncio.sleep(10 - ((time.perf_counter() - t0) % 10))
        mem = daemon.mem()
        done, invoiced = await settled(pool)
        events = await pool.fetchval("SELECT count(*) FROM events")
        samples.append((time.perf_counter() - t0, mem.get("VmRSS", 0.0), events, invoiced))
        print(f"  t={samples[-1][0]:6.0f}s  RSS {samples[-1][1]:7.1f} MiB  events {events:7,}  invoiced {invoiced:7,}",
              flush=True)
    sent = await producer
    # drain what is left (bounded)
    end = time.perf_counter() + 120
    while time.perf_counter() < end:
        events = await pool.fetchval("SELECT count(*) FROM events")
        if events >= len(backlog) + sent:
            break
        await asyncio.sleep(1)
    cpu = daemon.cpu() - cpu0
    rss = [s[1] for s in samples]
    after_warm = [s[1] for s in samples if s[0] >= 60] or rss
    mean = sum(after_warm) / len(after_warm)
    dev = max(abs(x - mean) for x in after_warm) / mean * 100
    mean_all = sum(rss) / len(rss)
    dev_all = max(abs(x - mean_all) for x in rss) / mean_all * 100
    done, invoiced = await settled(pool)
    S.print_table(f"bench/pipeline.py --soak {args.soak:g} — {args.backlog:,}-event backlog then "
                  f"{args.soak_rate:g} events/s, {len(shops)} shops", [
        ("events produced / consumed", f"{len(backlog) + sent:,} / {events:,}", ""),
        ("orders invoiced", invoiced, ""),
        ("RSS samples (every 10 s)", len(rss), ""),
        ("RSS min / max MiB", f"{min(rss):.1f} / {max(rss):.1f}", "all samples"),
        ("RSS flatness, all samples", f"±{dev_all:.1f} %", "max |x - mean| / mean"),
        ("RSS flatness after first 60 s", f"±{dev:.1f} %", f"goal ±10 % -> {'PASS' if dev <= 10 else 'FAIL'}"),
        ("daemon peak RSS MiB", daemon.mem().get("VmHWM", 0.0), ""),
        ("daemon CPU s (whole soak)", cpu, f"{cpu / max(1, invoiced) * 1000:.2f} ms per invoiced order"),
    ])
    print(f"conditions: {S.conditions()}; broker {args.broker}")
    return 0


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--orders", type=int, default=0,
                   help="orders to push (default 2000; with --rate-limit about 45 s of the ceiling)")
    p.add_argument("--accounts", type=int, default=2, help="K: Heartland accounts, one shop each (default 2)")
    p.add_argument("--rate-limit", type=float, default=None, help="R: sandbox limit per account, req/s; "
                   "the daemon is configured at the same R")
    p.add_argument("--nominal-calls", type=float, default=13.7,
                   help="calls per order for the ceiling when this run did not invoice every order "
                        "(default 13.7, from the unlimited run)")
    p.add_argument("--latency-ms", type=float, default=0.0,
                   help="latency the sandbox adds to every Heartland call, ms (default 0)")
    p.add_argument("--light", type=int, default=0, metavar="N",
                   help="light load instead of a backlog: N 2-line orders of new customers, each produced "
                        "once the one before is invoiced; prints p50 event→invoiced ÷ --latency-ms "
                        "(sequential round trips per order)")
    p.add_argument("--past-orders", type=int, default=0, metavar="N",
                   help="seed N past orders (with their events and journal rows) into Postgres first (bulk SQL)")
    p.add_argument("--past-journal-rows", type=int, default=12,
                   help="journal rows per seeded past order (default 12, a new order's mutations)")
    p.add_argument("--idle", type=float, default=5.0, metavar="S",
                   help="after the run, the daemon's CPU over S idle seconds, caught up (default 5; 0 = skip)")
    p.add_argument("--burst", type=int, default=5, help="sandbox bucket size with --rate-limit (default 5)")
    p.add_argument("--client-burst", type=int, default=0, help="daemon account burst (default = --burst)")
    p.add_argument("--client-rate-factor", type=float, default=1.0,
                   help="daemon accounts at this × R (default 1.0); the ceiling stays K·R ÷ calls per order")
    p.add_argument("--max-concurrency", type=int, default=16, help="per-account max_concurrency (default 16)")
    p.add_argument("--daemons", type=int, default=1,
                   help="daemons in the consumer group (default 1); CPU figures are their sum")
    p.add_argument("--in-flight", type=int, default=64, help="daemon.max_orders_in_flight (default 64)")
    p.add_argument("--timeout", type=float, default=0.0,
                   help="give up waiting after this many seconds (default 300; 150 with --rate-limit)")
    p.add_argument("--soak", type=float, default=0.0, help="soak mode: seconds of steady load after the backlog")
    p.add_argument("--soak-rate", type=float, default=20.0, help="soak: steady events/s (default 20)")
    p.add_argument("--backlog", type=int, default=10_000, help="soak: backlog events (default 10000)")
    p.add_argument("--py-spy", default=None, metavar="OUT",
                   help="record the daemon with py-spy during the measurement (.svg flamegraph, .json "
                        "speedscope, else collapsed stacks); py-spy from PATH or $PY_SPY")
    p.add_argument("--cprofile", default=None, metavar="OUT",
                   help="run the daemon under cProfile timed by CPU (bench/_cpuprofile.py); pstats to OUT at exit. "
                        "It slows the daemon, so read its shares, not the rates")
    p.add_argument("--cpu-sample", default=None, metavar="OUT",
                   help="sample the daemon's Python stack every 1 ms of its CPU time (bench/_cpusample.py); "
                        "collapsed stacks to OUT at exit, `bench/_cpusample.py --top OUT` to read. Slows it little")
    p.add_argument("--pg-tcp", action="store_true",
                   help="connect the daemon to Postgres over loopback TCP instead of its Unix socket")
    p.add_argument("--pg-statements", action="store_true",
                   help="load pg_stat_statements and print Postgres's time per statement kind")
    p.add_argument("--py-spy-sandbox", default=None, metavar="OUT",
                   help="the same for the sandbox process")
    p.add_argument("--broker", choices=("tansu", "noida"), default="tansu", help=S.BROKER_HELP +
                   "; default tansu here, so the daemon's idle fetch loop doesn't eat a core")
    p.add_argument("--json-out", default=None, metavar="FILE",
                   help="also write the run's figures as JSON here (bench/cost.py reads them)")
    p.add_argument("--keep-log", default=None, help="copy the daemon log here when the run fails")
    p.add_argument("--buyers", type=int, default=2000,
                   help="buyers the orders come from (default 2000; e-mails shared by all shops)")
    p.add_argument("--quiet-accounts", type=int, default=0, metavar="N",
                   help="N more accounts, each with its shop, configured in the daemon and the sandbox but "
                        "sent no orders: what having many accounts costs, apart from spreading orders over them")
    p.add_argument("--seed", type=int, default=7)
    args = p.parse_args()
    args.timeout = args.timeout or (150.0 if args.rate_limit is not None else 300.0)
    S.quiet_logs("error")
    tmp_fixture = Path(os.environ.get("TMPDIR", "/tmp")) / f"mortard-bench-fixture-{os.getpid()}.json"
    names, prices = S.bench_fixture(tmp_fixture, args.accounts + args.quiet_accounts)
    faults = fault_settings(args)
    try:
        pg_settings = {"shared_preload_libraries": "pg_stat_statements"} if args.pg_statements else {}
        with S.Servers(sandbox_fixture=tmp_fixture, sandbox_faults=faults, with_sandbox=True,
                       broker_kind=args.broker, pg_settings=pg_settings) as servers:
            rc = asyncio.run(run(args, servers, names, prices))
        if args.json_out and getattr(args, "result", None):
            import json
            Path(args.json_out).write_text(json.dumps(args.result))
    finally:
        tmp_fixture.unlink(missing_ok=True)
    raise SystemExit(rc)


if __name__ == "__main__":
    main()
