"""Helpers for the console tests: its config (two users: an operator and a viewer), a browser-like
client (a cookie jar, forms posted with the token the page carries, redirects looked at rather than
followed), and orders and dead letters seeded straight into Postgres."""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import aiohttp
import asyncpg

from mortard.app import heartland_account
from mortard.config import Config, config_from_dict
from mortard.console.auth import hash_password
from mortard.heartland import HeartlandClient
from mortard.heartland.gateway import HeartlandGateway
from mortard.store.orders import OrderStore
from mortard.sync.machine import OrderMachine, ShopRuntime
from mortard.testing.shopify import LineSpec, OrderSpec, order_payload
from stack import SHOP, SHOP2, TOKENS

PASSWORDS = {"alice": "alice-operator-pw", "victor": "victor-viewer-pw"}
HASHES = {name: hash_password(pw) for name, pw in PASSWORDS.items()}
SECRET = "console-session-secret-0123456789abcdef"
ENV = {**TOKENS, "CONSOLE_SECRET": SECRET}
CSRF = re.compile(r'name="csrf" value="([^"]+)"')
NOW = datetime.now(timezone.utc)


def console_config(db_url: str, sandbox_url: str = "http://127.0.0.1:9/", kafka: str = "127.0.0.1:9",
                   topic: str = "orders", **console: Any) -> Config:
    data = {
        "database": {"url": db_url},
        "kafka": {"bootstrap": kafka, "topic": topic},
        "heartland": {"accounts": {
            "acme": {"token_env": "ACME_TOKEN", "base_url": f"{sandbox_url.rstrip('/')}/acme/api/",
                     "rate_per_second": 500.0, "burst": 100},
            "globex": {"token_env": "GLOBEX_TOKEN", "base_url": f"{sandbox_url.rstrip('/')}/globex/api/"}}},
        "shops": {SHOP: {"heartland_account": "acme"}, SHOP2: {"heartland_account": "globex"}},
        "console": {"session_secret_env": "CONSOLE_SECRET", "login_max_failures": 3, "login_window_s": 60,
                    "users": {"alice": {"role": "operator", "password_hash": HASHES["alice"]},
                              "victor": {"role": "viewer", "password_hash": HASHES["victor"]}},
                    **console},
    }
    return config_from_dict(data, env=ENV)


@dataclass
class Browser:
    base: str
    session: aiohttp.ClientSession
    csrf: str = ""

    async def get(self, path: str, **kw: Any) -> tuple[int, str, aiohttp.ClientResponse]:
        async with self.session.get(self.base + path, allow_redirects=False, **kw) as r:
            text = await r.text()
        found = CSRF.search(text)
        if found:
            self.csrf = found.group(1)
        return r.status, text, r

    async def post(self, path: str, data: dict[str, str] | None = None, *, csrf: bool = True,
                   **kw: Any) -> tuple[int, str, aiohttp.ClientResponse]:
        form = dict(data or {})
        if csrf:
            form.setdefault("csrf", self.csrf)
        async with self.session.post(self.base + path, data=form, allow_redirects=False, **kw) as r:
            return r.status, await r.text(), r

    async def login(self, user: str, password: str | None = None) -> tuple[int, str, aiohttp.ClientResponse]:
        await self.get("/login")
        status, text, r = await self.post("/login", {"username": user, "password": password or PASSWORDS[user]})
        if status == 303:
            await self.get("/")          # a page, for the session's CSRF token
        return status, text, r


async def seed_order(pool: asyncpg.Pool, order_id: int, state: str, *, shop: str = SHOP,
                     reasons: list[dict[str, str]] | None = None, changed: datetime | None = None,
                     attempts: int = 0, last_error: str | None = None, invoiced_after_s: float | None = None,
                     mirror: dict[str, Any] | None = None, heartland_order_id: int | None = None) -> dict[str, Any]:
    spec = OrderSpec(order_id, order_id, [LineSpec("SKU-0002", 2, Decimal("116.00"), Decimal("10.00")),
                                          LineSpec("SKU-0003", 1, Decimal("24.00"))], shipping=Decimal("7.50"))
    payload = order_payload(spec)
    changed = changed or NOW - timedelta(minutes=10)
    first = changed - timedelta(seconds=invoiced_after_s or 0)
    await pool.execute(
        "INSERT INTO orders (shop, order_id, order_name, snapshot, snapshot_updated_at, sync_state, state_changed_at, "
        "attempts, pending_reasons, last_error, heartland_account, due_seq, done_seq, first_event_at, invoiced_at, "
        "mirror, heartland_order_id) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 'acme', 1, 1, $11, $12, $13, $14)",
        shop, order_id, spec.name, payload, datetime.fromisoformat(payload["updated_at"]), state, changed, attempts,
        reasons or [], last_error, first, changed if invoiced_after_s is not None else None, mirror or {},
        heartland_order_id)
    return payload


async def seed_letter(pool: asyncpg.Pool, offset: int, reason: str = "invalid_json", *,
                      value: bytes = b"{not json", age_s: float = 600) -> int:
    return await pool.fetchval(
        "INSERT INTO dead_letters (kafka_topic, kafka_partition, kafka_offset, key, value, reason, detail, created_at) "
        "VALUES ('shopify.orders', 0, $1, $2, $3, $4, 'Expecting property name', now() - make_interval(secs => $5)) "
        "RETURNING id", offset, b"acme-store.myshopify.com", value, reason, float(age_s))


async def set_stock(http: aiohttp.ClientSession, sandbox: str, sku: str, by_location: dict[str, int]) -> None:
    rows = [{"item": sku, "location": loc, "on_hand": qty} for loc, qty in by_location.items()]
    async with http.put(f"{sandbox}/_sandbox/accounts/acme/inventory", json=rows) as r:
        r.raise_for_status()


async def run_daemon_once(cfg, pool) -> None:
    """What a daemon's sweep does for the one order that is due."""
    client = HeartlandClient(heartland_account(cfg, "acme"), dialect=cfg.dialect)
    try:
        store = OrderStore(pool, "test-daemon", 30)
        machine = OrderMachine(store, {SHOP: ShopRuntime(cfg.shops[SHOP].settings, "acme", HeartlandGateway(client))},
                               cfg.dialect)
        assert await store.claim_one(SHOP, 1001)
        await machine.run(SHOP, 1001)
    finally:
        await client.close()
