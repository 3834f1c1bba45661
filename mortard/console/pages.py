"""The console's read-only pages: overview, queues, one order, and its dry-run plan.

`NEEDS_A_PERSON` lists what the overview counts as waiting for a person; each entry links to the
queue or page that shows it, drift and the stored health checks included.
"""
from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from aiohttp import web

from mortard.console import charts
from mortard.console.state import STATE, ConsoleState
from mortard.operator._db import find_order
from mortard.operator.errors import UserError
from mortard.operator.orders import _names_from_snapshot, note_in_words, timeline
from mortard.store import console as store
from mortard.store import health_checks
from mortard.store.db import Queryable
from mortard.store.order_timeline import load_timeline
from mortard.store.stats import dead_letters_by_reason
from mortard.sync.model import InvalidOrder, Mirror, ShopifyOrder
from mortard.sync.states import REASONS, SyncState

# -- queues ----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Queue:
    key: str
    title: str
    states: tuple[str, ...]       # () = the dead letters


QUEUES: dict[str, Queue] = {q.key: q for q in (
    Queue("pending", "Pending: left in Heartland for a person to decide", (SyncState.PENDING,)),
    Queue("dead", "Dead: mortard can't sync them; a person must act", (SyncState.DEAD,)),
    Queue("waiting", "Waiting for stock", (SyncState.WAITING_STOCK,)),
    Queue("failed", "Failed: mortard retries them by itself", (SyncState.FAILED,)),
    Queue("dead-letters", "Dead letters: records that could not be taken in", ()),
)}

AGES: dict[str, float | None] = {"": None, "5m": 300, "1h": 3600, "1d": 86400, "7d": 7 * 86400}
LIMIT = 200


@dataclass(frozen=True, slots=True)
class NeedsAPerson:
    label: str
    count: Callable[[Queryable, dict[str, int]], Awaitable[int]]
    link: str


def _count(key: str) -> Callable[[Queryable, dict[str, int]], Awaitable[int]]:
    """A count `store.console.needs_a_person` made already."""
    async def count(db: Queryable, counts: dict[str, int]) -> int:
        return counts.get(key, 0)
    return count


NEEDS_A_PERSON: list[NeedsAPerson] = [
    NeedsAPerson("pending orders", _count("pending"), "/queues?kind=pending"),
    NeedsAPerson("dead orders", _count("dead"), "/queues?kind=dead"),
    NeedsAPerson("waiting for stock", _count("waiting_stock"), "/queues?kind=waiting"),
    NeedsAPerson("dead letters not replayed", _count("dead_letters"), "/queues?kind=dead-letters"),
    # What the watch and the daemon's health checks stored (store/health_checks.py).
    NeedsAPerson("orders changed in Heartland by staff (drift)",
                 lambda db, _counts: health_checks.drifted_order_count(db), "/drift"),
    NeedsAPerson("shops missing webhook subscriptions",
                 lambda db, _counts: health_checks.shops_missing_subscriptions(db), "/webhooks"),
    NeedsAPerson("Heartland accounts refusing their token",
                 lambda db, _counts: health_checks.refused_accounts(db), "/webhooks#heartland-tokens"),
]


def queue_filter(q: Mapping[str, str]) -> tuple[Queue, store.QueueFilter, dict[str, str]]:
    """The queue and filter a page's query (or the retry-all form) names; bad values are a 4xx."""
    queue = QUEUES.get(q.get("kind", "pending"))
    if queue is None:
        raise web.HTTPNotFound(text="no such queue")
    age = q.get("age", "")
    if age not in AGES:
        raise web.HTTPBadRequest(text="unknown age")
    reason = q.get("reason") or None
    if reason is not None and (reason not in REASONS if queue.states else len(reason) > 100):
        raise web.HTTPBadRequest(text="unknown reason")
    shown = {"kind": queue.key, "shop": q.get("shop", ""), "reason": reason or "", "age": age,
             "resolved": "1" if q.get("resolved") else ""}
    f = store.QueueFilter(tuple(queue.states), q.get("shop") or None, reason, AGES[age], bool(q.get("resolved")))
    return queue, f, shown


async def queues(request: web.Request) -> web.Response:
    st: ConsoleState = request.app[STATE]
    queue, f, shown = queue_filter(request.query)
    letters, orders = [], []
    if queue.states:
        orders = await store.order_queue(st.pool, f, LIMIT)
    else:
        letters = await store.dead_letter_queue(st.pool, reason=request.query.get("reason") or None,
                                                min_age_s=f.min_age_s, include_replayed=f.include_resolved,
                                                limit=LIMIT)
    shops = sorted(set(await store.shops_seen(st.pool)) | set(st.cfg.shops))
    reasons = (sorted(code for code, r in REASONS.items() if r.state in queue.states) if queue.states
               else sorted(await dead_letters_by_reason(st.pool)))
    return st.render(request, "queues.html", queues=QUEUES, queue=queue, orders=orders, letters=letters,
                     shown=shown, shops=shops, reasons=reasons, ages=list(AGES), limit=LIMIT,
                     now=datetime.now(timezone.utc))


# -- overview --------------------------------------------------------------------------------------

HOUR, DAY = 3600, 86400


async def overview(request: web.Request) -> web.Response:
    st: ConsoleState = request.app[STATE]
    now = datetime.now(timezone.utc)
    by_shop = await st_counts(st)
    counts = await store.needs_a_person(st.pool)
    needs = [(n.label, await n.count(st.pool, counts), n.link) for n in NEEDS_A_PERSON]
    states = [s.value for s in SyncState if any(s.value in c for c in by_shop.values())]
    states += ["resolved"] if any("resolved" in c for c in by_shop.values()) else []
    window = 3 * HOUR
    synced = await store.synced_per_minute(st.pool, window)
    start = now - timedelta(seconds=window)
    per_minute = charts.line_chart(
        "Orders invoiced per minute, last 3 hours", {shop: charts.fill_minutes(pts, start, now)
                                                     for shop, pts in synced.items()},
        start=start, end=now, unit="orders", empty="no order invoiced in the last 3 hours")
    hours = await store.latency_series(st.pool, 48 * HOUR, HOUR)
    days = await store.latency_series(st.pool, 14 * DAY, DAY)
    latency_hours = charts.line_chart(
        "Event → invoiced, median per hour, last 48 hours", {s: [(p.at, p.p50_s) for p in pts] for s, pts in hours.items()},
        start=now - timedelta(hours=48), end=now, unit="seconds", time_format="%d %H:%M",
        empty="no order invoiced in the last 48 hours")
    latency_days = charts.line_chart(
        "Event → invoiced, median per day, last 14 days", {s: [(p.at, p.p50_s) for p in pts] for s, pts in days.items()},
        start=now - timedelta(days=14), end=now, unit="seconds", time_format="%m-%d",
        empty="no order invoiced in the last 14 days")
    return st.render(request, "overview.html", by_shop=by_shop, states=states, needs=needs,
                     charts=[per_minute, latency_hours, latency_days], hours=hours)


async def st_counts(st: ConsoleState) -> dict[str, dict[str, int]]:
    by_shop = await store.counts_by_shop(st.pool)
    for shop in st.cfg.shops:          # a configured shop with no orders yet still shows
        by_shop.setdefault(shop, {})
    return dict(sorted(by_shop.items()))


# -- one order -------------------------------------------------------------------------------------

async def _order(request: web.Request) -> Any:
    st: ConsoleState = request.app[STATE]
    try:
        return await find_order(st.pool, request.match_info["shop"], request.match_info["order"], set(st.cfg.shops))
    except UserError as exc:
        raise web.HTTPNotFound(text=str(exc)) from None


def side_by_side(row: Any) -> dict[str, Any]:
    """Shopify's figures and Heartland's (as mortard last saw them), row by row."""
    mirror = Mirror.from_json(row.mirror or {})
    try:
        order = ShopifyOrder.parse(row.snapshot, row.refunds, row.transactions) if row.snapshot else None
        problem = None
    except InvalidOrder as exc:
        order, problem = None, str(exc)
    by_line: dict[int, list[Any]] = {}
    for ln in mirror.lines:
        by_line.setdefault(ln.shopify_line_id, []).append(ln)
    lines = []
    for li in order.lines if order else ():
        hls = by_line.pop(li.id, [])
        lines.append({"label": li.sku or li.title, "shopify_qty": li.current_quantity, "shopify_price": li.price,
                      "shopify_discount": li.discount, "heartland_qty": sum(h.qty for h in hls) if hls else None,
                      "heartland_price": hls[0].unit_price if hls else None,
                      "locations": [h.location_id for h in hls]})
    for sid, hls in by_line.items():        # Heartland lines no Shopify line explains
        lines.append({"label": f"Shopify line {sid}", "shopify_qty": None, "shopify_price": None,
                      "shopify_discount": None, "heartland_qty": sum(h.qty for h in hls),
                      "heartland_price": hls[0].unit_price, "locations": [h.location_id for h in hls]})
    totals = []
    if order is not None:
        totals = [("total", order.current_total_price, mirror.order_total if mirror.order_id else None),
                  ("tax", order.current_total_tax, mirror.tax_total if mirror.order_id else None),
                  ("shipping", order.shipping, mirror.shipping_charge if mirror.order_id else None),
                  ("payments less refunds", sum((p.amount for p in order.payments), Decimal("0.00")) - order.refunded,
                   mirror.payments_total if mirror.order_id else None)]
    return {"order": order, "problem": problem, "mirror": mirror, "lines": lines, "totals": totals,
            "payments": [(p.gateway, p.amount) for p in order.payments] if order else [],
            "heartland_payments": [(p.payment_type_id, p.amount) for p in mirror.payments]}


def with_notes(rows: list[tuple[datetime, str, str]], notes: list[dict[str, Any]]) -> list[tuple[datetime, str, str]]:
    """The timeline with operators' notes said in words (who did what), in time order."""
    from mortard.operator.render import cell
    out = list(rows)
    for h in notes:
        detail = h["detail"] or {}
        text = note_in_words(detail) or cell(detail)
        if h["to_state"]:
            text += f" (state {h['to_state']})"
        out.append((h["at"], "note", text))
    return sorted(out, key=lambda r: r[0])


async def order_page(request: web.Request) -> web.Response:
    from mortard.console.actions import shown_actions
    st: ConsoleState = request.app[STATE]
    row = await _order(request)
    recorded = await load_timeline(st.pool, row.shop, row.order_id)
    names = _names_from_snapshot(row.snapshot, recorded.lines)
    events = [asdict(e) for e in recorded.events]
    journal = [asdict(j) for j in recorded.journal]
    documents = [asdict(d) for d in recorded.documents]
    history = [asdict(h) for h in recorded.history]
    rows = with_notes(timeline(events, journal, documents, [h for h in history if h["kind"] != "note"], names),
                      [h for h in history if h["kind"] == "note"])
    account = st.cfg.accounts.get(row.heartland_account or "") if row.heartland_account else None
    base = _without_userinfo(account.resolved_base_url) if account else None
    resolution = await store.resolution(st.pool, row.shop, row.order_id)
    actions = shown_actions(st.cfg, row, resolution)
    return st.render(request, "order.html", row=row, timeline=rows, journal=recorded.journal,
                     documents=recorded.documents, numbers=side_by_side(row), heartland_base=base,
                     resolution=resolution, actions=actions, history=recorded.history)


def _without_userinfo(url: str) -> str:
    """A URL fit for a page: never a user or password someone put in the config's base_url."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(netloc=parts.hostname + (f":{parts.port}" if parts.port else ""))) \
        if parts.hostname else url


async def plan_page(request: web.Request) -> web.Response:
    """The dry run (operator/dryrun.py): reads Heartland, writes nothing anywhere."""
    from mortard.app import effective_shop_settings, heartland_account
    from mortard.config import ConfigError
    from mortard.heartland import HeartlandClient, HeartlandError
    from mortard.operator.diff import action_text
    from mortard.operator.dryrun import dry_run
    from mortard.store.orders import OrderStore
    from mortard.store.reservations import held_by_others
    st: ConsoleState = request.app[STATE]
    row = await _order(request)
    if row.shop not in st.cfg.shops:
        return st.refuse(request, 409, f"{row.shop} is not in this console's config; mortard can't plan for it.")
    account = st.cfg.shops[row.shop].heartland_account
    journal = await OrderStore(st.pool, owner="console", lease_s=0).journal_entries(row.shop, row.order_id)
    held = await held_by_others(st.pool, account, row.shop, row.order_id)
    try:
        settings = (await effective_shop_settings(st.pool, {row.shop: st.cfg.shops[row.shop]}))[row.shop]
    except ConfigError as exc:
        return st.refuse(request, 409, f"The shop's stored settings are invalid: {exc}")
    client = HeartlandClient(heartland_account(st.cfg, account), dialect=st.cfg.dialect)
    try:
        result = await dry_run(client, row, settings, st.cfg.dialect, journal, held)
    except HeartlandError as exc:
        return st.refuse(request, 502, f"Heartland account {account} could not be read: {exc}")
    finally:
        await client.close()
    actions = [action_text(a.describe(), result.names) for a in result.mutations]
    return st.render(request, "plan.html", row=row, result=result, account=account, actions=actions,
                     matches=result.heartland == result.stored if result.heartland is not None else None)


# -- drift and health checks -----------------------------------------------------------------------

async def drift_page(request: web.Request) -> web.Response:
    """Orders staff changed in Heartland after mortard took them there, as the watch noticed them."""
    st: ConsoleState = request.app[STATE]
    shop = request.query.get("shop") or None
    orders = await health_checks.drifted_orders(st.pool, shop, LIMIT)
    shops = sorted(set(await store.shops_seen(st.pool)) | set(st.cfg.shops))
    return st.render(request, "drift.html", orders=orders, shop=shop or "", shops=shops, limit=LIMIT,
                     now=datetime.now(timezone.utc))


async def webhooks_page(request: web.Request) -> web.Response:
    """Each shop's last webhook-subscription check, and each Heartland account's last token check."""
    st: ConsoleState = request.app[STATE]
    checks = {c.shop: c for c in await health_checks.subscription_checks(st.pool)}
    shops = sorted(set(checks) | set(st.cfg.shops))
    tokens = {t.account: t for t in await health_checks.token_checks(st.pool)}
    accounts = sorted(set(tokens) | set(st.cfg.accounts))
    return st.render(request, "webhooks.html", shops=shops, checks=checks, accounts=accounts, tokens=tokens,
                     now=datetime.now(timezone.utc))
