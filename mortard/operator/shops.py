"""`mortard shops show|set|add`: per-shop settings, config file first, operator overrides on top.

Overrides live in `shops.settings` (jsonb) and hold only the keys that differ from the config file;
the daemon merges them at start (`mortard.app.effective_shop_settings`), so a change takes effect when
the daemon restarts. Values are given as text and parsed by the setting's type: booleans
(true/false/yes/no/on/off), numbers, comma lists (or a JSON array), JSON objects for tables, and
`none` for an optional setting.
"""
from __future__ import annotations

import argparse
import json
import types
import typing
from dataclasses import fields
from typing import Any

from mortard.operator.errors import UserError
from mortard.config import Config, ConfigError, build
from mortard.operator._db import database
from mortard.operator.render import cell, emit, table, to_json
from mortard.store.db import Queryable
from mortard.store.shops import ShopRow, find_shop, list_shops, register_shop, set_overrides
from mortard.sync.settings import ShopSettings

_HINTS = typing.get_type_hints(ShopSettings)
_KEYS = tuple(f.name for f in fields(ShopSettings))
_DEFAULTS = ShopSettings()


def _plain(value: Any) -> Any:
    """A setting as JSON: tuples become lists (also inside tables)."""
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    return value


def _as_dict(s: ShopSettings) -> dict[str, Any]:
    return {k: _plain(getattr(s, k)) for k in _KEYS}


def _effective(shop: str, base: ShopSettings, overrides: dict[str, Any]) -> ShopSettings:
    """What the daemon would build: `effective_shop_settings` for one shop; ConfigError if invalid."""
    unknown = sorted(set(overrides) - set(_KEYS))
    if unknown:
        raise ConfigError(f"shops.{shop}.settings: unknown stored key(s) {', '.join(unknown)}")
    return build(ShopSettings, {**{k: getattr(base, k) for k in _KEYS}, **overrides}, f"shops.{shop}.settings")


async def _rows(db: Queryable) -> dict[str, ShopRow]:
    return {r.shop: r for r in await list_shops(db)}


def _shop_doc(cfg: Config, shop: str, row: ShopRow | None) -> dict[str, Any]:
    configured = cfg.shops.get(shop)
    base = configured.settings if configured else _DEFAULTS
    overrides = dict(row.settings) if row is not None else {}
    try:
        settings = _effective(shop, base, overrides)
        problem = None
    except ConfigError as exc:
        settings, problem = base, str(exc)
    eff = _as_dict(settings)
    sources = {}
    for k in _KEYS:
        if k in overrides:
            sources[k] = "override"
        elif configured is not None and _plain(getattr(base, k)) != _plain(getattr(_DEFAULTS, k)):
            sources[k] = "config"
        else:
            sources[k] = "default"
    return {
        "shop": shop,
        "heartland_account": configured.heartland_account if configured else (row.heartland_account if row else None),
        "configured": configured is not None, "registered": row is not None,
        "settings": eff, "overrides": overrides, "sources": sources,
        "overridden": sorted(overrides), "invalid_overrides": problem,
        "updated_at": row.updated_at if row is not None else None,
    }


def _shop_text(doc: dict[str, Any]) -> str:
    where = []
    where.append("in the config file" if doc["configured"] else "NOT in the config file (the daemon ignores it)")
    if doc["registered"]:
        where.append("registered in the database")
    head = f"{doc['shop']}  (Heartland account {doc['heartland_account'] or '-'}; {', '.join(where)})"
    lines = [head]
    if doc["invalid_overrides"]:
        lines.append(f"  WARNING: stored overrides are invalid, the daemon will refuse to start: {doc['invalid_overrides']}")
    rows = [(k, _setting_text(v), doc["sources"][k]) for k, v in doc["settings"].items()]
    lines.append(table(("KEY", "VALUE", "FROM"), rows, max_widths={"VALUE": 90}, indent="  "))
    n = len(doc["overridden"])
    lines.append(f"  {n} override(s)" + (f": {', '.join(doc['overridden'])}" if n else ""))
    return "\n".join(lines)


def _setting_text(value: Any) -> str:
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ", ".join(str(v) for v in value) if value else "(empty)"
    if isinstance(value, dict):
        return json.dumps(value, separators=(", ", ": ")) if value else "{}"
    return cell(value) if value != "" else '""'


# -- show ------------------------------------------------------------------------------------------

async def shops_show(cfg: Config, args: argparse.Namespace) -> int:
    async with database(cfg) as db:
        rows = await _rows(db)
    wanted = getattr(args, "shop", None)
    if wanted is not None:
        if wanted not in cfg.shops and wanted not in rows:
            raise UserError(f"unknown shop {wanted}: not in the config file or the database "
                            f"(known: {', '.join(sorted(set(cfg.shops) | set(rows))) or 'none'})")
        names = [wanted]
    else:
        names = sorted(set(cfg.shops) | set(rows))
    docs = [_shop_doc(cfg, n, rows.get(n)) for n in names]
    if args.json:
        emit(to_json({"shops": docs}))
        return 0
    if not docs:
        emit("no shops: add them under [shops] in the config file")
        return 0
    emit("\n\n".join(_shop_text(d) for d in docs))
    return 0


# -- set -------------------------------------------------------------------------------------------

def parse_setting(key: str, text: str) -> Any:
    """One `KEY=VALUE` value, parsed by the setting's type, as JSON-able data (what `shops.settings` holds)."""
    if key not in _HINTS:
        raise UserError(f"unknown setting {key!r}: expected one of {', '.join(_KEYS)}")
    return _parse(key, _HINTS[key], text)


def _parse(key: str, tp: Any, text: str) -> Any:
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    t = text.strip()
    if origin in (typing.Union, types.UnionType):
        if t.lower() in ("", "none", "null"):
            return None
        (inner,) = [a for a in args if a is not type(None)]
        return _parse(key, inner, text)
    if tp is bool:
        if t.lower() in ("true", "yes", "on", "1"):
            return True
        if t.lower() in ("false", "no", "off", "0"):
            return False
        raise UserError(f"{key}: expected true or false, got {text!r}")
    if tp is int:
        try:
            return int(t)
        except ValueError:
            raise UserError(f"{key}: expected a whole number, got {text!r}") from None
    if tp is float:
        try:
            return float(t)
        except ValueError:
            raise UserError(f"{key}: expected a number, got {text!r}") from None
    if tp is str:
        return text
    if origin is tuple:
        if t.startswith("["):
            value = _json(key, t)
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise UserError(f"{key}: expected a list of text, like a,b,c or [\"a\", \"b\"]")
            return value
        return [part.strip() for part in t.split(",") if part.strip()]
    if origin is dict:
        value = _json(key, t or "{}")
        if not isinstance(value, dict):
            raise UserError(f"{key}: expected a JSON object, like {{\"gift_card\": \"Gift Card\"}}")
        return value
    raise UserError(f"{key}: can't be set from the command line (type {tp!r})")


def _json(key: str, text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise UserError(f"{key}: not valid JSON ({exc.msg} at column {exc.colno}): {text[:60]!r}") from None


async def shops_set(cfg: Config, args: argparse.Namespace) -> int:
    shop = args.shop
    wanted: dict[str, Any] = {}
    for assignment in args.assignments:
        key, eq, text = assignment.partition("=")
        if not eq or not key.strip():
            raise UserError(f"expected KEY=VALUE, got {assignment!r}")
        wanted[key.strip()] = parse_setting(key.strip(), text)
    async with database(cfg) as db:
        row = (await _rows(db)).get(shop)
        if shop not in cfg.shops and row is None:
            raise UserError(f"unknown shop {shop}: add it to the config file (or `mortard shops add {shop}`) first")
        base = cfg.shops[shop].settings if shop in cfg.shops else _DEFAULTS
        current = dict(row.settings) if row is not None else {}
        try:
            before: dict[str, Any] | None = _as_dict(_effective(shop, base, current))
        except ConfigError:
            before = None  # the stored overrides were invalid; this change may repair them
        try:
            settings = _effective(shop, base, {**current, **wanted})
        except ConfigError as exc:
            raise UserError(str(exc)) from None
        # Store only what differs from the config file: setting a key back to it drops the override.
        new_values = _as_dict(settings)
        base_values = _as_dict(base)
        to_set = {k: new_values[k] for k in wanted if new_values[k] != base_values[k]}
        to_drop = [k for k in wanted if k not in to_set]
        account = cfg.shops[shop].heartland_account if shop in cfg.shops else (row.heartland_account if row else None)
        await set_overrides(db, shop, account, to_set, to_drop)
        doc = _shop_doc(cfg, shop, (await _rows(db)).get(shop))
    changes = [{"key": k, "value": new_values[k], "previous": before[k] if before else None,
                "override": k in to_set} for k in wanted]
    if args.json:
        emit(to_json({"changed": changes, "shop": doc}))
        return 0
    for c in changes:
        state = "override stored" if c["override"] else "same as the config file, override removed"
        emit(f"{c['key']} = {_setting_text(c['value'])}  ({state})")
    emit("the daemon reads shop settings when it starts: restart it to apply.\n")
    emit(_shop_text(doc))
    return 0


# -- add -------------------------------------------------------------------------------------------

_REGISTRATION_TEXT = {"added": "added", "account_recorded": "account recorded", "unchanged": "already registered"}


async def shops_add(cfg: Config, args: argparse.Namespace) -> int:
    shop = args.shop
    account = getattr(args, "account", None)
    configured = cfg.shops.get(shop)
    if account is None:
        if configured is None:
            raise UserError(f"shops add {shop} needs --account (one of {', '.join(sorted(cfg.accounts)) or 'none'})")
        account = configured.heartland_account
    if account not in cfg.accounts:
        raise UserError(f"no Heartland account {account!r} in the config file "
                        f"(accounts: {', '.join(sorted(cfg.accounts)) or 'none'})")
    if configured is not None and configured.heartland_account != account:
        raise UserError(f"the config file puts {shop} on account {configured.heartland_account!r}, not {account!r}")
    async with database(cfg) as db:
        existing = await find_shop(db, shop)
        if existing is not None and existing.heartland_account not in (None, account):
            raise UserError(f"{shop} is already registered with account {existing.heartland_account!r}")
        registered = await register_shop(db, shop, account)
        doc = _shop_doc(cfg, shop, (await _rows(db)).get(shop))
    status = _REGISTRATION_TEXT[registered]
    if getattr(args, "json", False):
        emit(to_json({"status": status, "shop": doc}))
        return 0
    emit(f"{shop}: {status} (Heartland account {account})")
    if configured is None:
        emit(f"note: the daemon syncs only shops in its config file; add [shops.\"{shop}\"] with "
             f"heartland_account = \"{account}\" and webhook_secret_env there (the webhook secret is never stored here).")
    return 0


__all__ = ["shops_show", "shops_set", "shops_add", "parse_setting"]
