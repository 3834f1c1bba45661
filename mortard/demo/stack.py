"""The demo's servers: a noida-db broker, PostgreSQL, the Heartland sandbox, the ingest endpoint and the
daemon, started in order into one data directory and stopped together (`DemoStack.stop`).
"""
from __future__ import annotations

import asyncio
import contextlib
import secrets
import shutil
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
from aiohttp import web

from mortard import __version__
from mortard.app import Daemon
from mortard.config import Config, config_from_dict
from mortard.consume.topics import ensure_topics
from mortard.demo.scenario import CatalogItem, ShopCatalog
from mortard.ops import Metrics
from mortard.sandbox import SANDBOX, create_app
from mortard.store.db import create_pool
from mortard.testing import EmbeddedBroker, EmbeddedPostgres, free_port


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
    config_data: tuple[dict[str, Any], dict[str, str]] | None = None   # `config` as a file holds it
    ingest_url: str = ""
    ingest_metrics: Metrics | None = None
    ingest_stop: asyncio.Event = field(default_factory=asyncio.Event)
    ingest_task: asyncio.Task[None] | None = None
    daemon: Daemon | None = None
    pool: asyncpg.Pool | None = None
    http: aiohttp.ClientSession | None = None
    console_runner: web.AppRunner | None = None
    console_url: str = ""
    console_password: str = ""       # made for this run: the demo prints it with the console's address

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
        if self.console_runner is not None:
            steps.append(("console", self.console_runner.cleanup))
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
        self.ingest_task = self.daemon = self.pool = self.http = self.sandbox_runner = self.console_runner = None
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


def demo_config(*, db_url: str, bootstrap: str, sandbox_url: str, ingest_port: int, console_port: int = 0,
                console_password_hash: str = "") -> Config:
    data, env = demo_config_data(db_url=db_url, bootstrap=bootstrap, sandbox_url=sandbox_url,
                                 ingest_port=ingest_port, console_port=console_port,
                                 console_password_hash=console_password_hash)
    return config_from_dict(data, env=env)


def demo_config_data(*, db_url: str, bootstrap: str, sandbox_url: str, ingest_port: int, console_port: int = 0,
                     console_password_hash: str = "") -> tuple[dict[str, Any], dict[str, str]]:
    """The demo's configuration as a config file would hold it, and the environment its `*_env`
    names are read from (the sandbox's made-up tokens and webhook secrets)."""
    env = {f"DEMO_{s.account.upper()}_TOKEN": f"sandbox-token-{s.account}" for s in SHOPS}
    env |= {f"DEMO_{s.account.upper()}_WEBHOOK_SECRET": s.secret for s in SHOPS}
    account = {"rate_per_second": 200.0, "burst": 100, "max_concurrency": 16, "request_timeout_s": 10.0}
    return {
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
        "console": {"host": "127.0.0.1", "port": console_port, "users": {
            DEMO_CONSOLE_USER: {"role": "operator", "password_hash": console_password_hash}}
            if console_password_hash else {}},
    }, env


DEMO_CONSOLE_USER = "demo"


async def start_console(stack: DemoStack) -> None:
    """The web console (mortard/console/) on its own loopback port, over the demo's Postgres."""
    from mortard.console.app import build_app
    assert stack.config is not None and stack.pool is not None
    runner = web.AppRunner(build_app(stack.config, stack.pool), access_log=None)
    await runner.setup()
    stack.console_runner = runner
    site = web.TCPSite(runner, stack.config.console.host, stack.config.console.port)
    await site.start()
    stack.console_url = f"http://{stack.config.console.host}:{stack.config.console.port}/"


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
        from mortard.console.auth import hash_password
        stack.console_password = secrets.token_urlsafe(12)
        stack.config_data = demo_config_data(db_url=stack.postgres_url, bootstrap=stack.broker.bootstrap,
                                             sandbox_url=stack.sandbox_url, ingest_port=ingest_port,
                                             console_port=free_port(),
                                             console_password_hash=hash_password(stack.console_password))
        stack.config = cfg = config_from_dict(stack.config_data[0], env=stack.config_data[1])
        await ensure_topics(cfg.kafka.bootstrap, {cfg.kafka.topic: PARTITIONS, cfg.kafka.dead_letter_topic: 1})
        say("starting the daemon and the webhook endpoint")
        stack.daemon = Daemon(cfg)
        await stack.daemon.start()
        stack.ingest_url = f"http://127.0.0.1:{ingest_port}"
        stack.ingest_metrics = Metrics(version=__version__)
        stack.ingest_task = asyncio.create_task(
            run_ingest(cfg, metrics=stack.ingest_metrics, stop=stack.ingest_stop), name="demo-ingest")
        await _wait_ingest_ready(stack)
        stack.pool = await create_pool(stack.postgres_url, min_size=1, max_size=4)
        await start_console(stack)
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

