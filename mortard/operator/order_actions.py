"""`mortard orders retry|resolve`: what an operator does to orders, each recorded in the order's
timeline with who asked (`operator_name()`).

`orders retry SHOP ORDER` runs one order again now; `orders retry --state STATE [--reason CODE]
[--since WHEN] [--shop SHOP] [--limit N]` every order those filters match, the longest waiting
first (`--dry-run` lists them and changes nothing). `orders resolve SHOP ORDER --note TEXT` marks an
order handled by a person (`store.resolutions`): it leaves `orders list` and the counts by state
until something new happens to it.
"""
from __future__ import annotations

import argparse
import getpass
import re
import sys
from datetime import datetime, timedelta, timezone
from typing import Any

from mortard.config import Config
from mortard.operator._db import STATES, database, find_order
from mortard.operator.errors import UserError
from mortard.operator.orders import reason_entries
from mortard.operator.render import emit, table, to_json, when
from mortard.operator.shop_names import full_shop_name
from mortard.store.order_retry import RetryCandidate, retry_candidates, retry_now
from mortard.store.resolutions import MAX_NOTE, RESOLVABLE_STATES, resolve
from mortard.sync.states import SyncState

#: Orders done with: never retried in bulk, never resolved.
SETTLED = (SyncState.INVOICED.value, SyncState.CANCELLED.value, SyncState.IGNORED.value)

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$", re.IGNORECASE)
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def operator_name() -> str:
    """Who runs the command, as the timeline records it: the login name, marked as from a shell."""
    try:
        user = getpass.getuser()
    except (OSError, KeyError):   # no USER/LOGNAME and no passwd entry (a bare container)
        return "a shell command"
    return f"{user} (shell)"


def parse_since(text: str, now: datetime | None = None) -> datetime:
    """`--since`: a duration back from now (`90m`, `2h`, `1.5d`, `1w`) or an ISO time (UTC if it
    names no offset); aware UTC, not in the future."""
    now = now or datetime.now(timezone.utc)
    m = _DURATION.match(text)
    if m:
        try:
            return now - timedelta(seconds=float(m.group(1)) * _UNIT_S[m.group(2).lower()])
        except OverflowError:
            raise UserError(f"--since {text}: too far back") from None
    try:
        at = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise UserError(f"--since {text!r}: expected a duration like 30m, 2h, 1d or an ISO time like "
                        "2026-11-27T14:00:00Z") from None
    if at.tzinfo is None:
        at = at.replace(tzinfo=timezone.utc)
    at = at.astimezone(timezone.utc)
    if at > now:
        raise UserError(f"--since {text}: that is in the future ({when(at)})")
    return at


def _label(shop: str, order_id: int, name: str | None) -> str:
    return f"{name or '-'} (id {order_id}) of {shop}"


# -- retry -----------------------------------------------------------------------------------------

async def orders_retry(cfg: Config, args: argparse.Namespace) -> int:
    if getattr(args, "state", None) is not None:
        return await _retry_matching(cfg, args)
    if not getattr(args, "shop", None) or not getattr(args, "order", None):
        raise UserError("orders retry needs SHOP ORDER, or --state STATE to retry every order in it "
                        "(with --reason, --since, --shop, --limit)")
    for flag in ("reason", "since", "only_shop"):
        if getattr(args, flag, None) is not None:
            raise UserError(f"--{flag.replace('only_', '')} filters a bulk retry: give --state too")
    who = operator_name()
    async with database(cfg) as db:
        row = await find_order(db, args.shop, args.order, set(cfg.shops))
        r = await retry_now(db, row.shop, row.order_id, by=who)
    if r is None:  # deleted between the lookup and the update
        raise UserError(f"order {args.order} of {args.shop} disappeared; try again")
    result = {"shop": row.shop, "order_id": row.order_id, "order_name": row.order_name,
              "from_state": r.from_state, "to_state": r.to_state, "attempts": 0,
              "due_seq": r.due_seq, "next_attempt_at": r.next_attempt_at,
              "leased_by": r.lease_owner if r.leased else None, "by": who}
    if getattr(args, "json", False):
        emit(to_json(result))
        return 0
    change = f"{r.from_state} → {r.to_state}" if r.from_state != r.to_state else f"still {r.to_state}"
    emit(f"order {_label(row.shop, row.order_id, row.order_name)}: {change}, attempts reset to 0, "
         f"due now (due_seq {r.due_seq}).")
    if r.leased:
        emit(f"a daemon ({r.lease_owner}) is working on it; it runs it again when that run ends.")
    else:
        emit("a running daemon picks it up on its next sweep.")
    if cfg.shops and row.shop not in cfg.shops:
        emit(f"note: {row.shop} is not in this config file; a daemon with this config would mark it dead.")
    return 0


async def _retry_matching(cfg: Config, args: argparse.Namespace) -> int:
    state = args.state
    if getattr(args, "order", None):
        raise UserError("give either SHOP ORDER (one order) or --state (every order in it), not both")
    if state not in STATES:
        raise UserError(f"unknown state {state!r}: expected one of {', '.join(STATES)}")
    if state in SETTLED:
        raise UserError(f"orders in state {state} are settled; they are not retried in bulk "
                        "(retry one with `mortard orders retry SHOP ORDER`)")
    limit = getattr(args, "limit", 100)
    if limit <= 0:
        raise UserError(f"--limit must be at least 1, not {limit}")
    shop = getattr(args, "only_shop", None) or getattr(args, "shop", None)
    if shop is not None:
        shop = full_shop_name(shop, cfg.shops)
    since = parse_since(args.since) if getattr(args, "since", None) else None
    reason = getattr(args, "reason", None)
    dry_run = bool(getattr(args, "dry_run", False))
    who = operator_name()
    retried: list[dict[str, Any]] = []
    async with database(cfg) as db:
        found, matched = await retry_candidates(db, state=state, reason=reason, since=since, shop=shop,
                                                include_resolved=bool(getattr(args, "include_resolved", False)),
                                                limit=limit)
        if found and not dry_run and not getattr(args, "yes", False) and not _confirmed(len(found), state):
            raise UserError("nothing retried")
        for c in found:
            entry = _candidate(c)
            if not dry_run:
                r = await retry_now(db, c.shop, c.order_id, by=who)
                if r is None:          # deleted meanwhile
                    continue
                entry.update(to_state=r.to_state, due_seq=r.due_seq, leased_by=r.lease_owner if r.leased else None)
            retried.append(entry)
    doc = {"filter": {"state": state, "reason": reason, "since": since, "shop": shop, "limit": limit},
           "dry_run": dry_run, "by": who, "matched": matched,
           "remaining": max(0, matched - len(found)), ("would_retry" if dry_run else "retried"): retried}
    if getattr(args, "json", False):
        emit(to_json(doc))
        return 0
    what = "in state " + state + "".join(
        f", {k} {v}" for k, v in (("reason", reason), ("since", when(since) if since else None), ("shop", shop)) if v)
    if not found:
        emit(f"no orders {what}")
        return 0
    emit(table(("SHOP", "ORDER", "ID", "STATE", "SINCE", "ATTEMPTS", "REASONS", "LAST ERROR"),
               [(e["shop"], e["order_name"], e["order_id"],
                 e["from_state"] + (f" → {e['to_state']}" if e.get("to_state", e["from_state"]) != e["from_state"]
                                    else ""),
                 e["since"], e["attempts"], "; ".join(f"{x['code']}: {x['message']}" for x in e["reasons"]) or None,
                 e["last_error"]) for e in retried],
               max_widths={"SHOP": 32, "REASONS": 60, "LAST ERROR": 50}))
    if dry_run:
        emit(f"\nwould retry {len(retried)} order(s) {what} (--dry-run: nothing changed)")
    else:
        emit(f"\nretried {len(retried)} order(s) {what}, asked by {who}: attempts reset to 0, due now; "
             "a running daemon picks them up on its next sweep.")
    if doc["remaining"]:
        emit(f"{doc['remaining']} more match; run it again, or raise --limit.")
    return 0


def _candidate(c: RetryCandidate) -> dict[str, Any]:
    return {"shop": c.shop, "order_id": c.order_id, "order_name": c.order_name, "from_state": c.sync_state,
            "since": c.state_changed_at, "attempts": c.attempts, "reasons": reason_entries(c.pending_reasons),
            "last_error": c.last_error, "resolved": c.resolved}


def _confirmed(n: int, state: str) -> bool:
    """Asked on a terminal only (a script or a pipe goes ahead, as with --yes)."""
    try:
        if not sys.stdin.isatty():
            return True
    except (AttributeError, ValueError):
        return True
    answer = input(f"retry {n} order(s) in state {state}? [y/N] ")
    return answer.strip().lower() in ("y", "yes")


# -- resolve ---------------------------------------------------------------------------------------

async def orders_resolve(cfg: Config, args: argparse.Namespace) -> int:
    note = (getattr(args, "note", None) or "").strip()
    if not note:
        raise UserError("--note is needed: say what was done (it stays in the order's timeline)")
    if len(note) > MAX_NOTE:
        raise UserError(f"the note is {len(note)} characters; at most {MAX_NOTE}")
    who = operator_name()
    async with database(cfg) as db:
        row = await find_order(db, args.shop, args.order, set(cfg.shops))
        label = _label(row.shop, row.order_id, row.order_name)
        if row.sync_state in SETTLED:
            raise UserError(f"order {label} is {row.sync_state}: settled, there is nothing to resolve")
        if row.sync_state not in RESOLVABLE_STATES:
            raise UserError(f"order {label} is {row.sync_state}: mortard is still working on it, there is "
                            f"nothing to resolve (resolve an order that is {', '.join(RESOLVABLE_STATES)})")
        at = await resolve(db, row.shop, row.order_id, who, note, states=RESOLVABLE_STATES)
    if at is None:
        raise UserError(f"order {label} changed meanwhile (or disappeared); look again with "
                        f"`mortard orders show {row.shop} {row.order_id}`")
    doc = {"shop": row.shop, "order_id": row.order_id, "order_name": row.order_name, "state": row.sync_state,
           "resolved_by": who, "note": note, "at": at}
    if getattr(args, "json", False):
        emit(to_json(doc))
        return 0
    emit(f"order {label} ({row.sync_state}) resolved by {who}: {note}")
    emit("it leaves `mortard orders list` and the counts of " + row.sync_state
         + " orders until something new happens to it (an event, a retry).")
    return 0


__all__ = ["SETTLED", "operator_name", "orders_resolve", "orders_retry", "parse_since"]
