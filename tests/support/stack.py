"""The whole pipeline in one test process: a sandbox on a real port, a broker topic, a fresh
database, and a `Daemon` wired exactly as `mortard run` wires it."""
from __future__ import annotations

import asyncio
import json
from decimal import Decimal
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import asyncpg
import pytest
from aiohttp import web

from kafka_helpers import create_topic, produce
from mortard.app import Daemon
from mortard.config import Config, config_from_dict
from mortard.testing.shopify import Webhook
from mortard.sandbox import create_app
from mortard.heartland_contract.dialect import Dialect

SHOP = "acme-store.myshopify.com"
SHOP2 = "globex-store.myshopify.com"
TOKENS = {"ACME_TOKEN": "sandbox-token-acme", "GLOBEX_TOKEN": "sandbox-token-globex"}


async def start_sandbox(faults: dict | None = None, fixture: Any = None,
                        dialect: dict[str, Any] | None = None) -> tuple[web.AppRunner, str]:
    app = create_app(fixture, faults=faults, **({"dialect": Dialect().with_overrides(dialect)} if dialect else {}))
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    return runner, f"http://127.0.0.1:{port}"


def stack_config(*, db_url: str, bootstrap: str, topic: str, sandbox_url: str,
                 shop_settings: dict[str, Any] | None = None, daemon: dict[str, Any] | None = None,
                 accounts: dict[str, Any] | None = None, dialect: dict[str, Any] | None = None) -> Config:
    acc = {"rate_per_second": 2000.0, "burst": 500, "max_concurrency": 64, "request_timeout_s": 5.0}
    acc.update(accounts or {})
    return config_from_dict({
        "database": {"url": db_url, "min_pool": 1, "max_pool": 20},
        "kafka": {"bootstrap": bootstrap, "topic": topic, "dead_letter_topic": topic + ".dead",
                  "group_id": f"g-{topic}", "session_timeout_ms": 6000, "heartbeat_interval_ms": 1000,
                  "commit_interval_s": 0.2},
        "daemon": {"ops_port": 0, "sweep_interval_s": 0.2, "drain_timeout_s": 10, **(daemon or {})},
        "heartland": {**({"dialect": dialect} if dialect else {}), "accounts": {
            "acme": {"token_env": "ACME_TOKEN", "base_url": f"{sandbox_url}/acme/api/", **acc},
            "globex": {"token_env": "GLOBEX_TOKEN", "base_url": f"{sandbox_url}/globex/api/", **acc}}},
        "shops": {SHOP: {"heartland_account": "acme", "settings": shop_settings or {}},
                  SHOP2: {"heartland_account": "globex", "settings": shop_settings or {}}},
    }, env=TOKENS)


@dataclass
class Stack:
    config: Config
    sandbox_url: str
    http: aiohttp.ClientSession
    pool: asyncpg.Pool
    daemon: Daemon | None = None
    extra: list[Any] = field(default_factory=list)

    async def start_daemon(self) -> Daemon:
        self.daemon = Daemon(self.config)
        await self.daemon.start()
        return self.daemon

    async def stop_daemon(self) -> None:
        if self.daemon is not None:
            await self.daemon.stop()
            self.daemon = None

    async def send(self, hooks: Sequence[Webhook]) -> None:
        await produce(self.config.kafka.bootstrap, self.config.kafka.topic, hooks)

    async def state(self, account: str = "acme") -> dict[str, Any]:
        async with self.http.get(f"{self.sandbox_url}/_sandbox/state", params={"account": account}) as r:
            r.raise_for_status()
            data = json.loads(await r.text(), parse_float=Decimal)
        return data["accounts"][account] if "accounts" in data else data

    async def control(self, method: str, path: str, body: Any = None) -> Any:
        async with self.http.request(method, f"{self.sandbox_url}/_sandbox/{path}", json=body) as r:
            r.raise_for_status()
            return await r.json() if r.content_type == "application/json" else None

    async def wait_settled(self, count: int, timeout: float = 30.0,
                           states: Sequence[str] = ("invoiced", "waiting_stock", "open", "pending", "dead",
                                                    "cancelled", "ignored")) -> list[asyncpg.Record]:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        rows: list[asyncpg.Record] = []
        while loop.time() < deadline:
            rows = await self.pool.fetch(
                "SELECT * FROM orders WHERE sync_state = ANY($1::text[]) AND due_seq = done_seq "
                "AND lease_owner IS NULL ORDER BY order_id", list(states))
            if len(rows) >= count:
                return rows
            await asyncio.sleep(0.1)
        summary = await self.pool.fetch("SELECT order_id, sync_state, pending_reasons, last_error, due_seq, done_seq "
                                        "FROM orders ORDER BY order_id")
        raise AssertionError(f"only {len(rows)} of {count} orders settled: {[dict(r) for r in summary][:10]}")

    async def set_stock(self, rows: list[dict[str, Any]], account: str = "acme") -> None:
        await self.control("PUT", f"accounts/{account}/inventory", rows)

    async def stock(self, account: str = "acme") -> dict[tuple[str, str], dict[str, Any]]:
        return {(r["item"], r["location"]): r for r in (await self.state(account))["inventory"]}

    async def api(self, method: str, path: str, body: Any = None, account: str = "acme") -> Any:
        token = TOKENS["ACME_TOKEN" if account == "acme" else "GLOBEX_TOKEN"]
        async with self.http.request(method, f"{self.sandbox_url}/{account}/api/{path}", json=body,
                                     headers={"Authorization": f"Bearer {token}"}) as r:
            r.raise_for_status()
            text = await r.text()
            return json.loads(text, parse_float=Decimal) if text else None

    async def order(self, order_id: int, shop: str = SHOP) -> asyncpg.Record:
        return await self.pool.fetchrow("SELECT * FROM orders WHERE shop = $1 AND order_id = $2", shop, order_id)


async def make_stack(db_url: str, bootstrap: str, http: aiohttp.ClientSession, sandbox_url: str,
                     pool: asyncpg.Pool, **kw: Any) -> Stack:
    topic = f"orders-{uuid.uuid4().hex[:10]}"
    await create_topic(bootstrap, topic, partitions=4)
    cfg = stack_config(db_url=db_url, bootstrap=bootstrap, topic=topic, sandbox_url=sandbox_url, **kw)
    return Stack(cfg, sandbox_url, http, pool)


@pytest.fixture
async def make(db_url, kafka_bootstrap, http, sandbox_url, pool) -> AsyncIterator:
    """Build a stack (optionally with shop settings) on a freshly reset sandbox; stops its daemon."""
    async with http.post(f"{sandbox_url}/_sandbox/reset") as r:
        r.raise_for_status()
    async with http.put(f"{sandbox_url}/_sandbox/faults", json={"global": {}}) as r:
        pass
    made: list[Stack] = []

    async def factory(**kw) -> Stack:
        s = await make_stack(db_url, kafka_bootstrap, http, sandbox_url, pool, **kw)
        made.append(s)
        return s

    yield factory
    for s in made:
        await s.stop_daemon()
