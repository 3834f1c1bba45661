"""Postgres for one operator command: a small pool, errors turned into one line the user can act on."""
from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg

from mortard.operator.errors import UserError
from mortard.config import Config
from mortard.store import order_lookup
from mortard.store.db import Queryable, create_pool
from mortard.store.order_lookup import OrderRecord
from mortard.sync.states import SyncState

# Every sync state the machine records, for validating `--state`.
STATES = tuple(s.value for s in SyncState)


def safe_url(url: str) -> str:
    """The database URL without any password in it."""
    return re.sub(r"(://[^:/@]+):[^@/]*@", r"\1:***@", url)


@asynccontextmanager
async def database(cfg: Config) -> AsyncIterator[asyncpg.Pool]:
    try:
        pool = await create_pool(cfg.database.url, password=cfg.database_password, min_size=1, max_size=2,
                                 command_timeout=cfg.database.command_timeout)
    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        raise UserError(f"cannot connect to Postgres at {safe_url(cfg.database.url)}: {exc}") from None
    try:
        yield pool
    except asyncpg.UndefinedTableError as exc:
        raise UserError(f"the database has no mortard tables ({exc}); run `mortard migrate` first") from None
    finally:
        await pool.close()


async def find_order(db: Queryable, shop: str, ref: str,
                     known_shops: set[str] | frozenset[str] = frozenset()) -> OrderRecord:
    """The order for ORDER given as its Shopify id (digits) or its name (`#1001`, or `1001`)."""
    ref = ref.strip()
    rows: list[OrderRecord] = []
    if ref.isdigit() and len(ref) <= 18:
        found = await order_lookup.by_id(db, shop, int(ref))
        rows = [found] if found is not None else []
    if not rows:
        names = [ref] if ref.startswith("#") else [ref, "#" + ref]
        rows = await order_lookup.by_names(db, shop, names)
    if len(rows) == 1:
        return rows[0]
    if len(rows) > 1:
        ids = ", ".join(str(r.order_id) for r in rows[:5])
        raise UserError(f"{len(rows)} orders of {shop} are named {ref} (ids {ids}); give the order id instead")
    if shop not in known_shops and not await order_lookup.shop_has_orders(db, shop):
        raise UserError(f"no orders for shop {shop!r}: check the shop's domain (e.g. acme.myshopify.com)")
    raise UserError(f"no order {ref} in shop {shop} (give the Shopify order id or its name, like #1001)")
