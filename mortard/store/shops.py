"""Shops in Postgres: the operator's per-shop setting overrides and the shops registered by hand.

`shops.settings` holds only the keys that differ from the config file (`mortard shops set`); the
daemon lays them over the config file's settings when it starts (`mortard.app.effective_shop_settings`).
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from mortard.store.db import Queryable

__all__ = ["Registration", "ShopRow", "find_shop", "list_shops", "register_shop", "set_overrides",
           "settings_overrides"]

_COLUMNS = "shop, heartland_account, settings, created_at, updated_at"

_LIST = f"SELECT {_COLUMNS} FROM shops ORDER BY shop"

_FIND = f"SELECT {_COLUMNS} FROM shops WHERE shop = $1"

_OVERRIDES = "SELECT shop, settings FROM shops"

# Merge new overrides ($3) over the stored ones, minus the keys set back to the config file ($4);
# a shop not registered yet is registered with its account ($2).
_SET_OVERRIDES = """
INSERT INTO shops AS s (shop, heartland_account, settings) VALUES ($1, $2, $3)
ON CONFLICT (shop) DO UPDATE SET settings = (s.settings - $4::text[]) || $3, updated_at = now()
RETURNING settings
"""

# Register a shop, or record the account of one registered without it; a shop already on an account
# is left alone (no row returned). `xmax = 0` tells an insert from an update.
_REGISTER = """
INSERT INTO shops (shop, heartland_account) VALUES ($1, $2)
ON CONFLICT (shop) DO UPDATE SET heartland_account = excluded.heartland_account, updated_at = now()
WHERE shops.heartland_account IS NULL
RETURNING xmax = 0 AS inserted
"""

#: What `register_shop` did: a new row, the account filled in on an existing one, or nothing.
Registration = Literal["added", "account_recorded", "unchanged"]


@dataclass(frozen=True, slots=True)
class ShopRow:
    shop: str
    heartland_account: str | None
    settings: Mapping[str, Any]      # the stored overrides only
    created_at: datetime
    updated_at: datetime


def _row(r: Any) -> ShopRow:
    return ShopRow(r["shop"], r["heartland_account"], dict(r["settings"] or {}), r["created_at"], r["updated_at"])


async def list_shops(db: Queryable) -> list[ShopRow]:
    """Every registered shop, by domain."""
    return [_row(r) for r in await db.fetch(_LIST)]


async def find_shop(db: Queryable, shop: str) -> ShopRow | None:
    r = await db.fetchrow(_FIND, shop)
    return None if r is None else _row(r)


async def settings_overrides(db: Queryable) -> dict[str, dict[str, Any]]:
    """shop -> its stored overrides (empty for a shop with none)."""
    return {r["shop"]: dict(r["settings"] or {}) for r in await db.fetch(_OVERRIDES)}


async def set_overrides(db: Queryable, shop: str, account: str | None, to_set: Mapping[str, Any],
                        to_drop: Sequence[str]) -> dict[str, Any]:
    """Store `to_set` and drop `to_drop` from the shop's overrides in one statement; returns what is
    stored now."""
    return dict(await db.fetchval(_SET_OVERRIDES, shop, account, dict(to_set), list(to_drop)) or {})


async def register_shop(db: Queryable, shop: str, account: str) -> Registration:
    inserted = await db.fetchval(_REGISTER, shop, account)
    if inserted is None:
        return "unchanged"
    return "added" if inserted else "account_recorded"
