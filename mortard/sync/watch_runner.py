"""The watch's loop: per Heartland account, every interval, one pass (`sync/watch.py` decides).

A pass, within its call budget and only while the account is not held (a 429 pause, an open breaker):
1. **stock**: the account's `waiting_stock` orders (shops with `finish_when_stock_arrives`), one
   stock read for all their items, `choose_replans`, and the chosen made due, oldest first;
2. **headers**: one `$in` read of the headers of its `pending` orders and of the orders mortard
   opened or closed recently, compared with their mirrors;
3. for each that changed, a full read: a pending order staff fixed without touching what mortard
   put there from Shopify (lines, tax, shipping, its payments; a payment staff added is theirs) is
   made due to be re-read and re-planned from Heartland (`mirror_dirty`): the machine opens it
   (journaled, as every write) and invoices it. The watch sends nothing itself. One whose fix disagrees
   with Shopify, and any order mortard had opened or closed, is left as staff made it, and the
   difference is recorded as drift (`order_drift`, `mortard orders show`, a metric).

Several daemons: each pass belongs to the first daemon to take the account's turn
(`watch_turns`), so an interval costs the account one pass whatever the number of daemons.
"""
from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import structlog

from mortard.heartland_contract.errors import HeartlandError
from mortard.sync.machine import ShopRuntime
from mortard.sync.model import InvalidOrder, Mirror, ShopifyOrder
from mortard.sync.plan import custom_fields
from mortard.sync.routing import allowed_locations
from mortard.sync.states import SyncState
from mortard.sync.watch import (
    HEADER_IDS, WaitingOrder, call_budget, choose_replans, header_changes, items_of, line_changes,
    payment_changes, requests_for, rotated, staff_can_fix, waiting_lines,
)

log = structlog.get_logger(__name__)

WAITING = (SyncState.WAITING_STOCK.value,)
PENDING = (SyncState.PENDING.value,)
TAKEN_THERE = (SyncState.INVOICED.value, SyncState.OPEN.value, SyncState.WAITING_STOCK.value)
READ_ORDER_CALLS = 5   # find, lines, taxes, payments, invoices (more with invoice lines)


class WatchStore(Protocol):   # mortard.store.watch.WatchStore
    async def take_turn(self, account: str, interval_s: float) -> bool: ...
    async def watched(self, shops: Sequence[str], states: Sequence[str], *, within_s: float | None = None,
                      limit: int = 10_000) -> list[Any]: ...
    async def held(self, account: str, item_ids: Sequence[int]) -> dict[tuple[int, int], int]: ...
    async def make_due(self, keys: Sequence[tuple[str, int]], states: Sequence[str], *, dirty: bool,
                       why: str) -> list[tuple[str, int]]: ...
    async def record_drift(self, shop: str, order_id: int, kind: str, detail: dict[str, Any], seen_at: Any) -> bool: ...


@dataclass(frozen=True, slots=True)
class WatchSettings:
    interval_s: float = 60.0
    share: float = 0.1               # of the account's rate the watch may use
    drift_window_s: float = 7 * 86400.0   # orders mortard opened/closed this recently are watched
    sweep_reads: int = 1             # full reads a pass of orders mortard took there, in turn


@dataclass
class PassReport:
    account: str
    calls: int = 0
    budget: int = 0
    waiting: int = 0
    replanned: list[tuple[str, int]] = field(default_factory=list)
    fixed: list[tuple[str, int]] = field(default_factory=list)
    drift: list[tuple[str, int, str]] = field(default_factory=list)
    deferred: bool = False          # stopped early: budget spent or the account busy


class WatchRunner:
    def __init__(self, store: WatchStore, shops: Mapping[str, ShopRuntime], dialect: Any, *,
                 rates: Mapping[str, float], settings: WatchSettings = WatchSettings(),
                 busy: Callable[[str], bool] = lambda account: False,
                 on_due: Callable[[str, int], None] = lambda shop, order_id: None, metrics: Any = None) -> None:
        self._store = store
        self._shops = shops
        self._dialect = dialect
        self._rates = rates
        self.settings = settings
        self._busy = busy
        self._on_due = on_due
        self._metrics = metrics
        self.last: dict[str, PassReport] = {}
        # Header changes already looked at, per order: a drifted order's header keeps differing from
        # its mirror, and one full read of the same difference is enough.
        self._looked: dict[tuple[str, int], str] = {}
        # Where the next pass starts, per account: in the header read when it can't reach every
        # order, and in the slow sweep of full reads (payments don't show on headers).
        self._header_at: dict[str, int] = {}
        self._sweep_at: dict[str, int] = {}

    async def run(self, stop: asyncio.Event) -> None:
        accounts = sorted({rt.account for rt in self._shops.values()})
        # The first pass comes an interval after start: a starting daemon serves new orders first.
        try:
            await asyncio.wait_for(stop.wait(), self.settings.interval_s)
        except asyncio.TimeoutError:
            pass
        while not stop.is_set():
            for account in accounts:
                try:
                    if await self._store.take_turn(account, self.settings.interval_s):
                        await self.pass_once(account)
                except (asyncio.CancelledError, KeyboardInterrupt):
                    raise
                except Exception:
                    log.exception("watch_pass_failed", account=account)
            try:
                await asyncio.wait_for(stop.wait(), min(self.settings.interval_s, 5.0))
            except asyncio.TimeoutError:
                pass

    async def pass_once(self, account: str) -> PassReport:
        shops = {s: rt for s, rt in self._shops.items() if rt.account == account}
        report = PassReport(account, budget=call_budget(self.settings.share, self._rates.get(account, 5.0),
                                                        self.settings.interval_s))
        self.last[account] = report
        if not shops:
            return report
        port = next(iter(shops.values())).heartland
        await self._stock(account, shops, port, report)
        await self._headers(shops, port, report)
        self._observe(report)
        log.info("watch_pass", account=account, calls=report.calls, budget=report.budget, waiting=report.waiting,
                 replanned=len(report.replanned) or None, fixed=len(report.fixed) or None,
                 drift=len(report.drift) or None, deferred=report.deferred or None)
        return report

    def _may(self, report: PassReport, calls: int) -> bool:
        if report.calls + calls > report.budget or self._busy(report.account):
            report.deferred = True
            return False
        return True

    async def _stock(self, account: str, shops: Mapping[str, ShopRuntime], port: Any, report: PassReport) -> None:
        watching = [s for s, rt in shops.items() if rt.settings.finish_when_stock_arrives]
        rows = await self._store.watched(watching, WAITING) if watching else []
        report.waiting = len(rows)
        if not rows:
            return
        catalog = await port.catalog(())
        waiting = []
        for r in rows:
            s = shops[r.shop].settings
            tags = [t.strip() for t in (r.tags or "").split(",") if t.strip()] if isinstance(r.tags, str) else []
            lines = waiting_lines(Mirror.from_json(r.mirror), s.allow_split)
            if lines:
                waiting.append(WaitingOrder((r.shop, r.order_id), r.first_event_at, lines,
                                            tuple(loc.id for loc in allowed_locations(s, catalog, tags))))
        items = items_of(waiting)
        if not items or not self._may(report, requests_for(len(items))):
            return
        stock = await port.stock(items)
        report.calls += requests_for(len(items))
        choice = choose_replans(waiting, stock, await self._store.held(account, items))
        # Re-read first: staff may have distributed a line by hand meanwhile, which the plan must see.
        due = await self._store.make_due(choice.replan, WAITING, dirty=True, why="stock_arrived")
        report.replanned.extend(due)
        for shop, order_id in due:
            self._on_due(shop, order_id)

    async def _headers(self, shops: Mapping[str, ShopRuntime], port: Any, report: PassReport) -> None:
        names = list(shops)
        pending = [r for r in await self._store.watched(names, PENDING) if staff_can_fix(getattr(r, "reasons", ()))]
        taken = await self._store.watched(names, TAKEN_THERE, within_s=self.settings.drift_window_s)
        rows = pending + taken
        if not rows:
            return
        room = (report.budget - report.calls) * HEADER_IDS
        if room <= 0 or not self._may(report, 1):
            return
        account = report.account
        if len(rows) > room:
            start = self._header_at.get(account, 0)
            rows = rotated(rows, start)[:room]
            self._header_at[account] = start + room
            report.deferred = True
        headers, calls = await port.order_headers([r.heartland_order_id for r in rows])
        report.calls += calls
        looked: set[tuple[str, int]] = set()
        for r in rows:
            h = headers.get(r.heartland_order_id)
            if h is None:
                continue
            mirror = Mirror.from_json(r.mirror)
            rt = shops[r.shop]
            sent = _custom_sent(r, rt) if r.sync_state in PENDING else None
            changes = header_changes(mirror, h, sent)
            seen = repr(sorted(changes.items()))
            if not changes or self._looked.get((r.shop, r.order_id)) == seen or not self._may(report, READ_ORDER_CALLS):
                continue
            self._looked[(r.shop, r.order_id)] = seen
            looked.add((r.shop, r.order_id))
            await self._look_safely(r, rt, mirror, changes, report)
        # What the budget has left goes to full reads of the watched orders, a few a pass in turn:
        # a payment added by hand changes no header field (on a pending order it may be the fix).
        swept = pending + taken
        spare = min(self.settings.sweep_reads, (report.budget - report.calls) // READ_ORDER_CALLS)
        if spare <= 0 or not swept:
            return
        start = self._sweep_at.get(account, 0)
        self._sweep_at[account] = start + spare
        for r in rotated(swept, start)[:spare]:
            if (r.shop, r.order_id) in looked or not self._may(report, READ_ORDER_CALLS):
                continue
            await self._look_safely(r, shops[r.shop], Mirror.from_json(r.mirror), {}, report)

    async def _look_safely(self, r: Any, rt: ShopRuntime, mirror: Mirror, changes: dict[str, Any],
                           report: PassReport) -> None:
        try:
            await self._look(r, rt, mirror, changes, report)
        except HeartlandError as exc:
            log.warning("watch_read_failed", shop=r.shop, order_id=r.order_id, error=str(exc))

    async def _look(self, r: Any, rt: ShopRuntime, mirror: Mirror, changes: dict[str, Any],
                    report: PassReport) -> None:
        public_id = f"{rt.settings.order_prefix}{r.order_name}"
        reading = await rt.heartland.read_order(public_id, ())
        report.calls += READ_ORDER_CALLS
        if reading is None:
            return
        theirs = [(ln.id, ln.item_id, ln.qty, ln.location_id) for ln in reading.lines]
        lines = line_changes(mirror.lines, theirs)
        payments = payment_changes(mirror.payments, reading.payments)
        money = {}
        if reading.tax_total != mirror.tax_total:
            money["tax"] = [str(mirror.tax_total), str(reading.tax_total)]
        if reading.shipping_charge != mirror.shipping_charge:
            money["shipping"] = [str(mirror.shipping_charge), str(reading.shipping_charge)]
        # Staff distributing a line (ship-from only) agrees with what mortard put there.
        content = [c for c in lines if "added" in c or "removed" in c or c["was"]["qty"] != c["now"]["qty"]]
        detail = {**changes, **({"lines": lines} if lines else {}), **({"payments": payments} if payments else {}),
                  **money}
        if lines or money:
            # The lines and charges say why the total moved; without the total the record is the
            # same whichever look (a header's change or the sweep) found it.
            detail.pop("total", None)
        if reading.status != mirror.status and "status" not in detail:
            detail["status"] = [mirror.status, reading.status]
        if not detail:
            return
        # Payments staff added are Heartland's (the planner takes them as such: PlanInput.staff_payments);
        # one they changed or took off, like any line or charge, disagrees with what came from Shopify.
        only_added = all("added" in p for p in payments)
        if r.sync_state in PENDING and not content and only_added and not money:
            await self._finish_fixed(r, detail, report)
            return
        kind = "staff_disagrees" if r.sync_state in PENDING else "heartland_edited"
        if await self._store.record_drift(r.shop, r.order_id, kind, detail, r.updated_at):
            report.drift.append((r.shop, r.order_id, kind))
            log.warning("order_drift", shop=r.shop, order_id=r.order_id, kind=kind, changes=sorted(detail))

    async def _finish_fixed(self, r: Any, detail: dict[str, Any], report: PassReport) -> None:
        """Staff fixed what kept it pending and kept what came from Shopify: make it due, to be re-read
        and re-planned from what Heartland holds now. The machine opens it (if staff didn't), under
        its journal like every write (Heartland checks it balances and holds what it requires), and
        invoices it; the watch itself only reads. Once per distinct change: a change the machine
        can't finish with is not tried every interval."""
        if not await self._store.record_drift(r.shop, r.order_id, "staff_fixed", detail, r.updated_at):
            return
        due = await self._store.make_due([(r.shop, r.order_id)], PENDING, dirty=True, why="staff_fixed")
        report.fixed.extend(due)
        for shop, order_id in due:
            self._on_due(shop, order_id)

    def _observe(self, report: PassReport) -> None:
        m = self._metrics
        if m is None or not hasattr(m, "watch_calls_total"):
            return
        m.watch_calls_total.labels(account=report.account).inc(report.calls)
        m.watch_replanned_total.labels(account=report.account, why="stock_arrived").inc(len(report.replanned))
        m.watch_replanned_total.labels(account=report.account, why="staff_fixed").inc(len(report.fixed))
        for _, _, kind in report.drift:
            m.orders_drift_total.labels(kind=kind).inc()


def _custom_sent(r: Any, rt: ShopRuntime) -> dict[str, Any] | None:
    """The custom fields mortard put on the order from Shopify (what staff may have filled beyond)."""
    snapshot = getattr(r, "snapshot", None)
    if not snapshot:
        return {}
    try:
        return custom_fields(ShopifyOrder.parse(snapshot), rt.settings)
    except InvalidOrder:
        return {}
