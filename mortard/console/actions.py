"""What an operator may do from the console, each recorded in the order's timeline with who did it:
retry an order, retry every order a queue filter matches, resolve an order with a note, replay a dead
letter. They reuse what the operator commands use (`store.order_retry.retry_now`,
`operator.dlq` replay), so the console and the shell do the same thing.

`ORDER_ACTIONS` is the registry of buttons on an order's page: an action shows only where it applies.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import structlog
from aiohttp import web

from mortard.console.auth import User
from mortard.console.pages import QUEUES, queue_filter
from mortard.console.security import FORM, USER, require_operator
from mortard.console.state import STATE, ConsoleState
from mortard.operator.dlq import send_claimed
from mortard.operator.errors import UserError
from mortard.store import console as store
from mortard.store import dead_letters
from mortard.store.order_retry import retry_now
from mortard.store.resolutions import MAX_NOTE
from mortard.sync.states import SyncState

log = structlog.get_logger(__name__)

MAX_RETRY_ALL = 500


@dataclass(frozen=True, slots=True)
class OrderAction:
    key: str                      # the form posts to /orders/{shop}/{order}/{key}
    label: str
    applies: Callable[[Any, Any], bool]     # (order row, resolution or None) -> shown?
    needs_note: bool = False
    help: str = ""


_SETTLED = {SyncState.INVOICED, SyncState.CANCELLED, SyncState.IGNORED}

ORDER_ACTIONS: list[OrderAction] = [
    OrderAction("retry", "Retry now", lambda row, res: row.sync_state not in _SETTLED,
                help="Attempts start again from 0 and a daemon runs the order on its next sweep."),
    OrderAction("resolve", "Resolve with a note",
                lambda row, res: res is None and row.sync_state in (SyncState.PENDING, SyncState.DEAD,
                                                                     SyncState.WAITING_STOCK, SyncState.FAILED),
                needs_note=True,
                help="Takes it off the queues until something new happens to it; the note stays in its timeline."),
    # Shown only where the order's shop has Shopify Admin API access (`[shops.X.shopify]`).
    OrderAction("resync", "Resync from Shopify", lambda row, res: True,
                help="Fetches the order from Shopify as it is now, stores it as a webhook would be, and makes it due."),
]


def shown_actions(cfg: Any, row: Any, resolution: Any) -> list[OrderAction]:
    """The order actions that apply to this order (resync needs the shop's Admin API access)."""
    shop = cfg.shops.get(row.shop)
    return [a for a in ORDER_ACTIONS if a.applies(row, resolution)
            and (a.key != "resync" or (shop is not None and shop.shopify is not None))]


def _user(request: web.Request) -> User:
    user = request[USER]
    assert user is not None
    return user


def _back_to_order(st: ConsoleState, shop: str, order_id: int, said: str) -> web.HTTPSeeOther:
    return web.HTTPSeeOther(f"/orders/{shop}/{order_id}?" + urlencode(st.done_query(said)))


async def _row(st: ConsoleState, request: web.Request) -> Any:
    from mortard.operator._db import find_order
    try:
        return await find_order(st.pool, request.match_info["shop"], request.match_info["order"], set(st.cfg.shops))
    except UserError as exc:
        raise web.HTTPNotFound(text=str(exc)) from None


@require_operator
async def retry(request: web.Request) -> web.StreamResponse:
    st: ConsoleState = request.app[STATE]
    user = _user(request)
    row = await _row(st, request)
    r = await retry_now(st.pool, row.shop, row.order_id, by=user.name)
    if r is None:
        return st.refuse(request, 404, "The order disappeared meanwhile.")
    log.info("console_retry", user=user.name, shop=row.shop, order_id=row.order_id, from_state=r.from_state)
    raise _back_to_order(st, row.shop, row.order_id, f"Retry asked by {user.name}: {r.from_state} → {r.to_state}, "
                         "due now" + ("; a daemon working on it runs it again when done." if r.leased else "."))


@require_operator
async def resolve(request: web.Request) -> web.StreamResponse:
    st: ConsoleState = request.app[STATE]
    user = _user(request)
    row = await _row(st, request)
    note = str(request[FORM].get("note") or "").strip()
    if not note:
        return st.refuse(request, 400, "Say in the note what was done (it stays in the order's timeline).")
    if len(note) > MAX_NOTE:
        return st.refuse(request, 400, f"The note is longer than {MAX_NOTE} characters.")
    at = await store.resolve(st.pool, row.shop, row.order_id, user.name, note)
    if at is None:
        return st.refuse(request, 404, "The order disappeared meanwhile.")
    log.info("console_resolve", user=user.name, shop=row.shop, order_id=row.order_id)
    raise _back_to_order(st, row.shop, row.order_id, f"Resolved by {user.name}.")


@require_operator
async def retry_matching(request: web.Request) -> web.StreamResponse:
    """Retry every order the queue's filter matches (sent as the form's fields), up to MAX_RETRY_ALL."""
    st: ConsoleState = request.app[STATE]
    user = _user(request)
    form = request[FORM]
    queue, f, shown = queue_filter({k: str(form.get(k) or "") for k in ("kind", "shop", "reason", "age", "resolved")})
    if not queue.states:
        return st.refuse(request, 400, "Dead letters are replayed one by one, not retried.")
    keys = await store.matching_orders(st.pool, f, MAX_RETRY_ALL)
    done = 0
    for shop, order_id in keys:
        if await retry_now(st.pool, shop, order_id, by=user.name) is not None:
            done += 1
    log.info("console_retry_matching", user=user.name, queue=queue.key, shop=f.shop, reason=f.reason,
             min_age_s=f.min_age_s, orders=done)
    query = {k: v for k, v in shown.items() if v}
    query.update(st.done_query(f"Retry asked by {user.name} for {done} order(s)" + (
        f" (the first {MAX_RETRY_ALL}; run it again for the rest)" if len(keys) >= MAX_RETRY_ALL else "") + "."))
    raise web.HTTPSeeOther("/queues?" + urlencode(query))


@require_operator
async def replay_letter(request: web.Request) -> web.StreamResponse:
    """Send one dead letter back to the topic (as `mortard dlq replay ID`; `force` for one replayed already)."""
    st: ConsoleState = request.app[STATE]
    user = _user(request)
    try:
        letter_id = int(request.match_info["id"])
    except ValueError:
        raise web.HTTPNotFound(text="no such dead letter") from None
    force = bool(request[FORM].get("force"))
    known = await dead_letters.replay_stamps(st.pool, [letter_id])
    if letter_id not in known:
        return st.refuse(request, 404, f"There is no dead letter {letter_id}.")
    if known[letter_id] is not None and not force:
        return st.refuse(request, 409, f"Dead letter {letter_id} was replayed already; replay it again from "
                                       "the list of replayed letters if you mean to.")
    claimed = await dead_letters.claim_for_replay(st.pool, [letter_id], force)
    if not claimed:
        return st.refuse(request, 409, f"Dead letter {letter_id} was replayed meanwhile by someone else.")
    try:
        sent = await send_claimed(st.cfg, st.pool, claimed)
    except UserError as exc:
        log.warning("console_replay_failed", user=user.name, dead_letter=letter_id, error=str(exc))
        return st.refuse(request, 502, f"Nothing was replayed: {exc}")
    s = sent[0]
    log.info("console_replay", user=user.name, dead_letter=letter_id, to_topic=s["to_topic"],
             to_partition=s["to_partition"], to_offset=s["to_offset"], again=s["again"])
    raise web.HTTPSeeOther("/queues?" + urlencode({"kind": "dead-letters", **st.done_query(
        f"Dead letter {letter_id} replayed by {user.name} to {s['to_topic']}[{s['to_partition']}]@{s['to_offset']}.")}))


@require_operator
async def resync(request: web.Request) -> web.StreamResponse:
    from mortard.operator.shopify import resync_order
    st: ConsoleState = request.app[STATE]
    user = _user(request)
    row = await _row(st, request)
    try:
        r = await resync_order(st.cfg, st.pool, row.shop, str(row.order_id), by=user.name)
    except UserError as exc:
        return st.refuse(request, 409, str(exc))
    log.info("console_resync", user=user.name, shop=row.shop, order_id=row.order_id, new=r.new_snapshot)
    what = "a change mortard had not stored" if r.new_snapshot else "the state mortard already had"
    raise _back_to_order(st, row.shop, row.order_id, f"Resync asked by {user.name}: fetched {what}; due now.")


ORDER_HANDLERS = {"retry": retry, "resolve": resolve, "resync": resync}
assert set(ORDER_HANDLERS) == {a.key for a in ORDER_ACTIONS}, "every order action has a handler"
assert "dead-letters" in QUEUES
