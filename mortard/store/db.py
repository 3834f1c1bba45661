"""Connection pool and migrations.

Migrations are plain SQL files applied in order under a Postgres advisory lock, so two daemons
starting at once apply each migration exactly once.
"""
from __future__ import annotations

import json
from importlib import resources
from typing import Any, TypeAlias

import asyncpg
import structlog

from mortard.config import DatabaseConfig, Secret

log = structlog.get_logger(__name__)

# What the query functions in `mortard.store` take: a pool for one statement, or a connection (inside a
# transaction the caller holds).
Queryable: TypeAlias = asyncpg.Pool | asyncpg.Connection

# pg_advisory_lock key: the first 8 bytes of sha256("mortard.migrate"), as a signed bigint.
_MIGRATION_LOCK = 0x4D4F525441524421 - (1 << 63)


async def _init_connection(conn: asyncpg.Connection) -> None:
    await conn.set_type_codec("jsonb", encoder=_dumps, decoder=json.loads, schema="pg_catalog")
    await conn.set_type_codec("json", encoder=_dumps, decoder=json.loads, schema="pg_catalog")


class RawJson(str):
    """JSON text that is already encoded (a webhook body): written to jsonb as it is."""


# json.dumps(default=str, separators=(",", ":")), without building an encoder for every value.
_encode = json.JSONEncoder(default=str, separators=(",", ":")).encode


def _dumps(value: Any) -> str:
    if isinstance(value, RawJson):
        return str(value)
    return _encode(value)


async def _keep_session(conn: asyncpg.Connection) -> None:
    """Release without asyncpg's server-side reset (RESET ALL, UNLISTEN, unlock): mortard sets no
    session state, and that extra round trip doubled the cost of every statement (bench/pipeline.py).
    asyncpg still rolls back a transaction left open."""


async def create_pool(url: str, *, password: Secret | None = None, min_size: int = 2, max_size: int = 20,
                      command_timeout: float = 30.0) -> asyncpg.Pool:
    pool = await asyncpg.create_pool(
        url, password=password.reveal() if password else None, min_size=min_size, max_size=max_size,
        command_timeout=command_timeout, init=_init_connection, reset=_keep_session,
    )
    assert pool is not None
    return pool


async def pool_from_config(db: DatabaseConfig, password: Secret | None) -> asyncpg.Pool:
    return await create_pool(db.url, password=password, min_size=db.min_pool, max_size=db.max_pool,
                             command_timeout=db.command_timeout)


async def ping(db: Queryable) -> bool:
    """Postgres answers a trivial query (the daemon's readiness check)."""
    return await db.fetchval("SELECT 1") == 1


def _migration_files() -> list[tuple[str, str]]:
    root = resources.files("mortard.store") / "migrations"
    files = sorted((p.name, p.read_text()) for p in root.iterdir() if p.name.endswith(".sql"))
    return files


async def migrate(conn: asyncpg.Connection) -> list[str]:
    """Apply pending migrations; returns the names applied. Safe to run from many daemons at once."""
    applied: list[str] = []
    await conn.execute("SELECT pg_advisory_lock($1)", _MIGRATION_LOCK)
    try:
        await conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations (name text PRIMARY KEY, "
            "applied_at timestamptz NOT NULL DEFAULT now())")
        done = {r["name"] for r in await conn.fetch("SELECT name FROM schema_migrations")}
        for name, sql in _migration_files():
            if name in done:
                continue
            async with conn.transaction():
                await conn.execute(sql)
                await conn.execute("INSERT INTO schema_migrations (name) VALUES ($1)", name)
            log.info("migration_applied", migration=name)
            applied.append(name)
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", _MIGRATION_LOCK)
    return applied
