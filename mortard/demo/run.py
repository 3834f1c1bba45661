"""`mortard demo`: the whole system on embedded servers, with a Shopify day played through it.

One process starts a noida-db broker, PostgreSQL, the Heartland sandbox, the ingest endpoint and the
daemon; plays the day's webhooks over HTTP with valid (and a few invalid) HMAC signatures; waits
until every order has settled; prints a summary; and stops everything (or, with `--keep`, keeps it
running until Ctrl-C).

For tests and scripts: `await run_demo(orders=20, rate=200, data_dir=tmp, seed=7, on_settled=check)`
returns a `DemoResult`; `on_settled(stack, summary)` runs while every server is still up.
"""
from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import shutil
import signal
import sys
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import IO, Any

import aiohttp
import asyncpg
from aiohttp import web

from mortard import __version__
from mortard.app import Daemon
from mortard.config import Config, config_from_dict
from mortard.consume.topics import ensure_topics
from mortard.demo.scenario import CatalogItem, Delivery, Scenario, ShopCatalog, build_scenario
from mortard.demo.summary import gather, render, sandbox_json
from mortard.testing import EmbeddedBroker, EmbeddedPostgres, free_port
from mortard.ops import Metrics
from mortard.sandbox import SANDBOX, create_app
from mortard.store.stats import EXPLORE_QUERIES, intake_progress, orders_by_state, settled_counts
from mortard.store.db import create_pool

MARKER = ".mortard-demo"
TOPIC = "shopify.orders"
PARTITIONS = 8


@dataclass(frozen=True)
class DemoShop:
    domain: str
    account: str
    secret: str
    auto_invoice: bool
    first_number: int


SHOPS = (
    DemoShop("acme-outfitters.myshopify.com", "acme", "demo-webhook-secret-acme", True, 1001),
    DemoShop("globex-supply.myshopify.com", "globex", "demo-webhook-secret-globex", False, 5001),
)
SOURCE_LOCATION = "ONLINE"


@dataclass
class DemoStack:
    """Every server the demo started, and how to reach it. `stop()` is safe to call twice."""

    data_dir: Path
    pg: EmbeddedPostgres | None = None
    broker: EmbeddedBroker | None = None
    sandbox_runner: web.AppRunner | None = None
    sandbox_app: web.Application | None = None
    sandbox_url: str = ""
    config: Config | None = None
    ingest_url: str = ""
    ingest_metrics: Metrics | None = None
    ingest_stop: asyncio.Event = field(default_factory=asyncio.Event)
    ingest_task: asyncio.Task[None] | None = None
    daemon: Daemon | None = None
    pool: asyncpg.Pool | None = None
    http: aiohttp.ClientSession | None = None

    @property
    def postgres_url(self) -> str:
        assert self.pg is not None
        return self.pg.url

    @property
    def metrics_url(self) -> str:
        port = self.daemon.ops.port if self.daemon is not None and self.daemon.ops is not None else 0
        return f"http://127.0.0.1:{port}/metrics"

    @property
    def webhook_url(self) -> str:
        return f"{self.ingest_url}/webhooks/shopify"

    async def stop(self) -> None:
        """Stop in reverse order of dependence; every step runs even if an earlier one fails."""
        steps: list[tuple[str, Callable[[], Awaitable[Any]]]] = []
        if self.ingest_task is not None:
            steps.append(("ingest", self._stop_ingest))
        if self.daemon is not None:
            steps.append(("daemon", self.daemon.stop))
        if self.pool is not None:
            steps.append(("pool", self.pool.close))
        if self.http is not None:
            steps.append(("http", self.http.close))
        if self.sandbox_runner is not None:
            steps.append(("sandbox", self.sandbox_runner.cleanup))
        for name, step in steps:
            try:
                await asyncio.wait_for(asyncio.shield(step()), 20)
            except Exception as exc:  # noqa: BLE001 - keep stopping the rest
                print(f"mortard demo: stopping {name} failed: {exc!r}", file=sys.stderr)
        self.ingest_task = self.daemon = self.pool = self.http = self.sandbox_runner = None
        self.stop_processes()

    async def _stop_ingest(self) -> None:
        assert self.ingest_task is not None
        self.ingest_stop.set()
        await asyncio.gather(self.ingest_task, return_exceptions=True)

    def stop_processes(self) -> None:
        """The child processes (broker, Postgres): synchronous, idempotent, also for emergencies."""
        if self.broker is not None:
            with contextlib.suppress(Exception):
                self.broker.stop(remove=False)
            self.broker = None
        if self.pg is not None:
            with contextlib.suppress(Exception):
                self.pg.stop()   # keeps DIR/pg (not made by it); removes a /tmp stand-in if it used one
            self.pg = None


@dataclass
class DemoResult:
    summary: dict[str, Any]
    scenario: Scenario
    settled: bool


Progress = Callable[[str, bool], None]


# -- the stack ---------------------------------------------------------------------------------------

def prepare_dir(data_dir: Path) -> None:
    """Make `data_dir` ready for a fresh run: each run starts from empty Kafka and Postgres data."""
    data_dir.mkdir(parents=True, exist_ok=True)
    marker = data_dir / MARKER
    leftovers = [p for p in (data_dir / "pg", data_dir / "kafka") if p.exists()]
    if leftovers and not marker.exists():
        raise RuntimeError(f"{data_dir} holds pg/ or kafka/ that the demo did not create; "
                           "pick another --dir")
    for p in leftovers:
        shutil.rmtree(p)
    marker.write_text("data of `mortard demo`; removed and recreated on every run\n")


def _start_postgres(stack: DemoStack) -> None:
    stack.pg = EmbeddedPostgres(base_dir=stack.data_dir / "pg").start()


async def start_sandbox(stack: DemoStack) -> None:
    app = create_app()
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    stack.sandbox_runner, stack.sandbox_app = runner, app
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    stack.sandbox_url = f"http://127.0.0.1:{port}"


def demo_config(*, db_url: str, bootstrap: str, sandbox_url: str, ingest_port: int) -> Config:
    env = {f"DEMO_{s.account.upper()}_TOKEN": f"sandbox-token-{s.account}" for s in SHOPS}
    env |= {f"DEMO_{s.account.upper()}_WEBHOOK_SECRET": s.secret for s in SHOPS}
    account = {"rate_per_second": 200.0, "burst": 100, "max_concurrency": 16, "request_timeout_s": 10.0}
    return config_from_dict({
        "database": {"url": db_url, "min_pool": 1, "max_pool": 16},
        "kafka": {"bootstrap": bootstrap, "topic": TOPIC, "dead_letter_topic": TOPIC + ".dead",
                  "group_id": "mortard-demo", "session_timeout_ms": 6000, "heartbeat_interval_ms": 1000,
                  "commit_interval_s": 0.5, "partitions": PARTITIONS},
        "daemon": {"ops_port": 0, "sweep_interval_s": 0.25, "drain_timeout_s": 10, "max_orders_in_flight": 32},
        "ingest": {"host": "127.0.0.1", "port": ingest_port, "ops_port": 0},
        "heartland": {"accounts": {
            s.account: {"token_env": f"DEMO_{s.account.upper()}_TOKEN",
                        "base_url": f"{sandbox_url}/{s.account}/api/", **account} for s in SHOPS}},
        "shops": {s.domain: {"heartland_account": s.account,
                             "webhook_secret_env": f"DEMO_{s.account.upper()}_WEBHOOK_SECRET",
                             "settings": {"auto_invoice": s.auto_invoice, "source_location": SOURCE_LOCATION}}
                  for s in SHOPS},
    }, env=env)


async def start_stack(data_dir: Path, say: Callable[[str], None]) -> DemoStack:
    from mortard.ingest.service import run_ingest

    prepare_dir(data_dir)
    stack = DemoStack(data_dir=data_dir)
    try:
        say("starting Kafka (noida-db) and PostgreSQL")
        stack.broker = EmbeddedBroker("noida", data_dir=data_dir / "kafka").start()
        _start_postgres(stack)
        await start_sandbox(stack)
        stack.http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=15))
        ingest_port = free_port()
        stack.config = cfg = demo_config(db_url=stack.postgres_url, bootstrap=stack.broker.bootstrap,
                                         sandbox_url=stack.sandbox_url, ingest_port=ingest_port)
        await ensure_topics(cfg.kafka.bootstrap, {cfg.kafka.topic: PARTITIONS, cfg.kafka.dead_letter_topic: 1})
        say("starting the daemon and the webhook endpoint")
        stack.daemon = Daemon(cfg)
        await stack.daemon.start()
        stack.ingest_url = f"http://127.0.0.1:{ingest_port}"
        stack.ingest_metrics = Metrics(version=__version__)
        stack.ingest_task = asyncio.create_task(
            run_ingest(cfg, metrics=stack.ingest_metrics, stop=stack.ingest_stop), name="demo-ingest")
        await _wait_ingest_ready(stack)
        stack.pool = await create_pool(stack.postgres_url, min_size=1, max_size=3)
        return stack
    except BaseException:
        await stack.stop()
        raise


async def _wait_ingest_ready(stack: DemoStack, timeout: float = 20.0) -> None:
    assert stack.http is not None and stack.ingest_task is not None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if stack.ingest_task.done():
            stack.ingest_task.result()
            raise RuntimeError("the ingest endpoint stopped on its own")
        with contextlib.suppress(aiohttp.ClientError, OSError):
            async with stack.http.get(f"{stack.ingest_url}/healthz") as resp:
                if resp.status == 200:
                    return
        await asyncio.sleep(0.05)
    raise TimeoutError(f"the ingest endpoint was not ready within {timeout:.0f} s")


async def shop_catalogs(stack: DemoStack, state: dict[str, Any]) -> list[ShopCatalog]:
    """What each shop sells, read from the sandbox (items from the live fixture, stock from its state)."""
    assert stack.sandbox_app is not None
    sandbox = stack.sandbox_app[SANDBOX]
    out = []
    for s in SHOPS:
        account = sandbox.accounts[s.account]
        stock: dict[str, dict[str, int]] = {}
        for row in state["accounts"][s.account]["inventory"]:
            if row["location"] != SOURCE_LOCATION:
                stock.setdefault(row["item"], {})[row["location"]] = int(row["qty_on_hand"])
        stores = tuple(sorted(loc.public_id for loc in account.locations.values()
                              if loc.public_id != SOURCE_LOCATION))
        items = tuple(CatalogItem(it.public_id, it.description, Decimal(str(it.price)), stock.get(it.public_id, {}))
                      for it in sorted(account.items.values(), key=lambda i: i.id)
                      if it.active and it.track_inventory)
        out.append(ShopCatalog(s.domain, s.account, stores, items, auto_invoice=s.auto_invoice,
                               first_number=s.first_number))
    return out


# -- playing the day -----------------------------------------------------------------------------

@dataclass
class PlayStats:
    answers: Counter[int] = field(default_factory=Counter)
    retried: int = 0
    sent: int = 0
    errors: list[str] = field(default_factory=list)


async def play(stack: DemoStack, scenario: Scenario, rate: float, stats: PlayStats) -> None:
    """POST every delivery at `rate` per second; one order's deliveries go out in their order."""
    assert stack.http is not None
    secrets = {s.domain: s.secret for s in SHOPS}
    last_for_order: dict[tuple[str, int | None], asyncio.Task[None]] = {}
    tasks: list[asyncio.Task[None]] = []
    limit = asyncio.Semaphore(64)
    loop = asyncio.get_running_loop()
    start = loop.time()

    async def send(d: Delivery, before: asyncio.Task[None] | None) -> None:
        if before is not None:
            await asyncio.gather(before, return_exceptions=True)
        async with limit:
            status = await _post(stack, d, secrets[d.shop], stats)
        stats.answers[status] += 1
        stats.sent += 1

    for i, d in enumerate(scenario.deliveries):
        delay = start + i / rate - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        key = (d.shop, d.order_id) if d.order_id is not None and d.expect_status == 200 else (d.shop, -i)
        task = asyncio.create_task(send(d, last_for_order.get(key)))
        last_for_order[key] = task
        tasks.append(task)
    await asyncio.gather(*tasks)


async def _post(stack: DemoStack, d: Delivery, secret: str, stats: PlayStats) -> int:
    """One delivery, retried like Shopify retries (on 5xx and connection errors), a few times."""
    assert stack.http is not None
    for attempt in range(5):
        try:
            async with stack.http.post(stack.webhook_url, data=d.body, headers=d.headers(secret)) as resp:
                await resp.read()
                if resp.status < 500 or attempt == 4:
                    return resp.status
        except (aiohttp.ClientError, OSError, asyncio.TimeoutError) as exc:
            if attempt == 4:
                stats.errors.append(f"{d.kind} {d.webhook_id}: {exc!r}")
                return 0
        stats.retried += 1
        await asyncio.sleep(0.2 * 2 ** attempt)
    return 0


async def order_counts(pool: asyncpg.Pool) -> tuple[dict[str, int], int, int]:
    """Orders by state, how many are still being worked, and how many there are."""
    counts = await orders_by_state(pool)
    settled = await settled_counts(pool)
    return counts, settled.busy, settled.total


async def wait_settled(stack: DemoStack, scenario: Scenario, timeout: float) -> bool:
    """Every accepted webhook is in the inbox (or the dead letters), and no order is due or leased."""
    assert stack.pool is not None
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    want_events, want_dead = scenario.expected_events, scenario.expected_dead_letters
    quiet = 0
    while loop.time() < deadline:
        p = await intake_progress(stack.pool)
        intake_done = p.events >= want_events and p.dead_letters >= want_dead
        if intake_done and p.busy == 0 and p.unfinished == 0:
            quiet += 1
            if quiet >= 2:          # twice in a row: nothing was just about to be scheduled
                return True
        else:
            quiet = 0
        await asyncio.sleep(0.1)
    return False


class ProgressLine:
    """One updating line on a terminal; plain lines (at most every 2 s) otherwise."""

    def __init__(self, stream: IO[str] | None, quiet: bool = False) -> None:
        self.stream = stream
        self.quiet = quiet or stream is None
        self.tty = bool(stream is not None and _isatty(stream))
        self._last_plain = 0.0
        self._width = 0

    def say(self, text: str) -> None:
        if self.quiet:
            return
        self.clear()
        print(f"mortard demo: {text}", file=self.stream, flush=True)

    def update(self, text: str, force: bool = False) -> None:
        if self.quiet:
            return
        assert self.stream is not None
        if self.tty:
            cols = shutil.get_terminal_size((100, 20)).columns - 1
            line = text[:cols]
            self.stream.write("\r" + line + " " * max(0, self._width - len(line)))
            self.stream.flush()
            self._width = len(line)
        elif force or time.monotonic() - self._last_plain >= 2.0:
            self._last_plain = time.monotonic()
            print(text, file=self.stream, flush=True)

    def clear(self) -> None:
        if self.tty and self._width and self.stream is not None:
            self.stream.write("\r" + " " * self._width + "\r")
            self.stream.flush()
            self._width = 0


class LogStream:
    """Where the demo's logs go: stderr, after clearing the progress line so they don't mix."""

    def __init__(self, line: ProgressLine, stream: IO[str]) -> None:
        self._line = line
        self._stream = stream

    def write(self, text: str) -> int:
        self._line.clear()
        return self._stream.write(text)

    def flush(self) -> None:
        self._stream.flush()

    def isatty(self) -> bool:
        return _isatty(self._stream)


def _isatty(stream: IO[str]) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


async def _progress_loop(stack: DemoStack, scenario: Scenario, stats: PlayStats, line: ProgressLine,
                         started: float, phase: list[str]) -> None:
    assert stack.pool is not None
    total = len(scenario.deliveries)
    while True:
        try:
            counts, busy, n = await order_counts(stack.pool)
        except (asyncpg.PostgresError, OSError):
            counts, busy, n = {}, 0, 0
        shown = ", ".join(f"{v} {k}" for k, v in sorted(counts.items(), key=lambda kv: -kv[1]))
        line.update(f"[{time.monotonic() - started:5.1f}s] {phase[0]}: webhooks {stats.sent}/{total} · "
                    f"orders {n - busy}/{len(scenario.orders)} settled · {shown}")
        await asyncio.sleep(0.25 if line.tty else 0.5)


# -- the whole run -------------------------------------------------------------------------------

async def run_demo(orders: int = 60, rate: float = 30.0, data_dir: str | Path = ".demo", seed: int = 7,
                   keep: bool = False, *, settle_timeout: float = 90.0,
                   progress: IO[str] | ProgressLine | None = None,
                   on_settled: Callable[[DemoStack, dict[str, Any]], Awaitable[None]] | None = None
                   ) -> DemoResult:
    """Start the stack, play the day, wait for it to settle, gather the summary, call `on_settled`
    (servers still up), then stop everything — or with `keep`, wait until cancelled first."""
    if orders < 1 or rate <= 0:
        raise ValueError("--orders must be at least 1 and --rate above 0")
    line = progress if isinstance(progress, ProgressLine) else ProgressLine(progress)
    t0 = time.monotonic()
    stack = await start_stack(Path(data_dir), line.say)
    progress_task: asyncio.Task[None] | None = None
    try:
        assert stack.http is not None and stack.pool is not None
        t_ready = time.monotonic()
        state_before = await sandbox_json(stack.http, f"{stack.sandbox_url}/_sandbox/state")
        scenario = build_scenario(seed, orders, await shop_catalogs(stack, state_before))
        stats = PlayStats()
        phase = ["playing"]
        line.say(f"stack up in {t_ready - t0:.1f} s; playing {len(scenario.deliveries)} webhooks "
                 f"for {orders} orders at {rate:g}/s")
        progress_task = asyncio.create_task(_progress_loop(stack, scenario, stats, line, t0, phase))
        await play(stack, scenario, rate, stats)
        t_played = time.monotonic()
        phase[0] = "settling"
        settled = await wait_settled(stack, scenario, settle_timeout)
        t_settled = time.monotonic()
        progress_task.cancel()
        await asyncio.gather(progress_task, return_exceptions=True)
        progress_task = None
        line.update(f"[{t_settled - t0:5.1f}s] done: webhooks {stats.sent}/{len(scenario.deliveries)}, "
                    f"{'all orders settled' if settled else 'NOT all orders settled'}", force=True)
        line.clear()
        if line.tty and not line.quiet:
            print(file=line.stream)
        explore = {
            "postgres_url": stack.postgres_url, "psql": "psql", "queries": list(EXPLORE_QUERIES),
            "sandbox_url": stack.sandbox_url, "metrics_url": stack.metrics_url,
            "ingest_url": stack.webhook_url, "ingest_metrics_url": f"{stack.ingest_url}/metrics",
            "data_dir": str(stack.data_dir), "kept": keep,
        }
        summary = await gather(
            stack.pool, stack.http, stack.sandbox_url, stock_before=state_before,
            ingest_answers=stats.answers, scenario=scenario,
            timings={"startup": t_ready - t0, "playing": t_played - t_ready, "settling": t_settled - t_played,
                     "total": t_settled - t0},
            shop_accounts={s.domain: s.account + ("" if s.auto_invoice else " (auto-invoice off)") for s in SHOPS},
            explore=explore)
        summary["ingest"]["retried"] = stats.retried
        if stats.errors:
            summary["ingest"]["errors"] = stats.errors[:10]
        if on_settled is not None:
            await on_settled(stack, summary)
        if keep:
            await asyncio.Event().wait()      # until cancelled (Ctrl-C)
        return DemoResult(summary, scenario, settled)
    finally:
        if progress_task is not None:
            progress_task.cancel()
            await asyncio.gather(progress_task, return_exceptions=True)
        line.clear()
        await stack.stop()


# -- the command ---------------------------------------------------------------------------------

def main(args: argparse.Namespace) -> int:
    from mortard.ops import configure_logging

    line = ProgressLine(sys.stderr)
    configure_logging(level=getattr(args, "log_level", None) or "warning", stream=LogStream(line, sys.stderr))
    outcome: dict[str, Any] = {}
    try:
        return asyncio.run(_main(args, outcome, line))
    except KeyboardInterrupt:
        return 130


async def _main(args: argparse.Namespace, outcome: dict[str, Any], line: ProgressLine) -> int:
    loop = asyncio.get_running_loop()
    task = asyncio.current_task()
    assert task is not None
    interrupted = [False]

    def on_signal() -> None:
        if interrupted[0]:
            print("\nmortard demo: still stopping the servers…", file=sys.stderr, flush=True)
            return
        interrupted[0] = True
        print("\nmortard demo: stopping…", file=sys.stderr, flush=True)
        task.cancel()

    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, on_signal)

    async def show(stack: DemoStack, summary: dict[str, Any]) -> None:
        outcome["summary"] = summary
        if args.json:
            print(json.dumps(summary, indent=2, default=str), flush=True)
        else:
            print(render(summary), flush=True)

    try:
        result = await run_demo(args.orders, args.rate, args.dir, args.seed, args.keep,
                                progress=line, on_settled=show)
    except asyncio.CancelledError:
        if args.keep and "summary" in outcome:
            return 0          # Ctrl-C is how --keep ends
        print("mortard demo: interrupted; every server was stopped", file=sys.stderr)
        return 130
    except (RuntimeError, TimeoutError, OSError, ValueError) as exc:
        print(f"mortard demo: {exc}", file=sys.stderr)
        return 1
    if not result.settled:
        print("mortard demo: not every order settled in time (see the summary)", file=sys.stderr)
        return 1
    return 0


__all__ = ["DemoResult", "DemoStack", "SHOPS", "demo_config", "main", "run_demo", "start_stack"]
