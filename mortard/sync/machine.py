"""The per-order driver: plan → execute → record, for one claimed order.

For one claimed order: load → (re-read Heartland if the journal says so: sync/recovery.py) → loop
plan → journal → send → record, until the plan is empty; then record the state and release the
lease. What a failed call means for the order is `sync/failures.py`'s to decide; which orders run
when is `sync/scheduler.py`'s.
"""
from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone
from typing import Any

import structlog

from mortard.heartland_contract.dialect import Dialect
from mortard.heartland_contract.errors import HeartlandError, HeartlandNotFound, HeartlandValidationError
from mortard.sync.actions import (
    AddAddress, CreateOrder, CreateTicket, FindCustomer, LoadItems, LoadStock, Reason, SetStatus,
)
from mortard.sync.batch import Batch, batch, routed_units
from mortard.sync.errors import LeaseLost
from mortard.sync.execute import CONCURRENT_KINDS, concurrent_groups, execute_together
from mortard.sync.failures import Refresh, RetryPolicy, RetrySoon, Settle, decide, failure_of
from mortard.sync.journal import RunJournal
from mortard.sync.model import Address, Catalog, InvalidOrder, Item, Mirror, ShopifyOrder, matching_address
from mortard.sync.order_run import OrderRun
from mortard.sync.overlap import creating, creation_batch, reads_stock_first
from mortard.sync.plan import DEAD, FAILED, PENDING, PlanInput, plan
from mortard.sync.ports import CustomerMemoryPort, FoundCustomer, HeartlandPort, OrderStore
from mortard.sync.recovery import Recovered, Unaccounted, open_addresses, rebuild, ticket_fingerprint, ticket_names
from mortard.sync.reservations import Ledger, ReservationLedger, held_by_lines
from mortard.sync.settings import ShopSettings

log = structlog.get_logger(__name__)

MAX_STEPS = 500  # a plan that never converges is a bug; stop and record it rather than spin


@dataclass
class ShopRuntime:
    """What the machine needs per shop: its settings, Heartland account name, and that account."""

    settings: ShopSettings
    account: str
    heartland: HeartlandPort     # mortard.heartland.gateway.HeartlandGateway


@dataclass
class MachineStats:
    runs: int = 0
    converged: int = 0
    by_state: dict[str, int] = field(default_factory=dict)
    actions: dict[str, int] = field(default_factory=dict)


class OrderMachine:
    def __init__(self, store: OrderStore, shops: Mapping[str, ShopRuntime], dialect: Dialect, *,
                 ledger: Ledger | None = None, retry: RetryPolicy | None = None,
                 metrics: Any = None, now: Callable[[], datetime] | None = None,
                 customers: CustomerMemoryPort | None = None) -> None:
        self._store = store
        self._shops = shops
        self._dialect = dialect
        self._ledger: Ledger = ledger or ReservationLedger()
        self._retry = retry or RetryPolicy()
        self._metrics = metrics
        self._customers = customers
        self._now = now or (lambda: datetime.now(timezone.utc))
        self.stats = MachineStats()
        # Labelled metric children, looked up once: `.labels()` costs more than the observation.
        self._step_timers: dict[str, Any] = {}

    async def run(self, shop: str, order_id: int, row: Any = None) -> bool:
        """Work one claimed order (`row`, if the claim loaded it already) until it converges or must
        wait. True if new events arrived meanwhile."""
        rt = self._shops.get(shop)
        if row is None:
            row = await self._store.load(shop, order_id)
        run = OrderRun(row, RunJournal(self._store, shop, order_id))
        self.stats.runs += 1
        key = (shop, order_id)
        with structlog.contextvars.bound_contextvars(shop=shop, order_id=order_id, order_name=row.order_name,
                                                     account=rt.account if rt else None):
            try:
                if rt is None:
                    return await self._finish(run, DEAD, (Reason("unknown_shop", f"shop {shop} is not configured"),),
                                              success=False)
                if row.snapshot is None:
                    # Refunds or transactions arrived before the order itself: wait for orders/create.
                    return await self._finish(run, "received", (Reason(
                        "waiting_for_order", "refund or transaction received before the order"),), success=True)
                try:
                    order = ShopifyOrder.parse(row.snapshot, row.refunds, row.transactions)
                except InvalidOrder as exc:
                    return await self._finish(run, DEAD, (Reason("invalid_order", str(exc)),), success=False)
                try:
                    return await self._converge(rt, run, order)
                except (LeaseLost, asyncio.CancelledError):
                    raise
                except Exception as exc:  # a bug, or an answer we never expected: park, don't spin
                    log.exception("order_crashed")
                    delay = self._retry.park_delay(row.attempts + 1)
                    return await self._finish(run, FAILED, (Reason("internal_error", f"{type(exc).__name__}: {exc}"),),
                                              success=False, error=repr(exc)[:500], account=rt.account,
                                              next_attempt_at=self._now() + timedelta(seconds=delay))
            finally:
                await run.end_reads()      # a run cut short (lease lost, cancelled) leaves none out
                self._ledger.ended(key)   # the lease's end released the order's holds

    async def _converge(self, rt: ShopRuntime, run: OrderRun, order: ShopifyOrder) -> bool:
        row = run.row
        shop, order_id = row.shop, row.order_id
        key = (shop, order_id)
        public_id = f"{rt.settings.order_prefix}{order.name}"
        gateways = {rt.settings.payment_types.get(p.gateway) or rt.settings.payment_types.get("*", "Shopify")
                    for p in order.payments}
        mirror = Mirror.from_json(row.mirror)
        items: dict[str, Item | None] | None = None
        quick_failures = 0
        dirty = row.mirror_dirty or row.open_journal > 0
        pinned: dict[int, str] = {}   # refund id -> its return ticket as journaled, not yet in Heartland
        await self._release_if_committed(key, mirror)
        for _ in range(MAX_STEPS):
            sending: Any = None   # the mutation in flight, for the failure policy
            try:
                catalog: Catalog = await rt.heartland.catalog(gateways)
                if dirty:
                    recovered = await self._recover(rt, run, public_id, mirror)
                    if isinstance(recovered, Unaccounted):
                        return await self._finish(run, DEAD, (Reason("heartland_unaccounted", recovered.message),),
                                                  success=False, error=recovered.message, account=rt.account)
                    mirror, pinned = recovered.mirror, recovered.pinned
                    await run.journal.resolve(mirror, recovered.found, recovered.documents)
                    await self._release_if_committed(key, mirror)
                    log.info("mirror_refreshed", heartland_order_id=mirror.order_id, status=mirror.status,
                             found=len(recovered.found) or None)
                    dirty = False
                if run.stocking is not None and run.stocking.done():
                    await run.stock_in()   # sets run.stock_read, or raises what the read raised
                stock = None if run.stock_read is None else self._ledger.view(*run.stock_read)
                inp = PlanInput(order, mirror, rt.settings, catalog, self._dialect, items, stock,
                                staff_payments=mirror.staff_payment_ids)
                p = plan(inp)
                early = None   # a creation step planned while the stock read is out
                if run.stocking is not None and reads_stock_first(inp, p):
                    if (early := creating(inp)) is None:
                        await run.stock_in()   # the next step needs the stock
                        continue
                    p = early
                if p.converged:
                    await self._remember_customer(rt, run, order, mirror)
                    # A line left waiting for stock is the watch's to look at again (sync/watch.py):
                    # it reads the account's stock less every hold, so units another run held and
                    # did not use are found on its next pass.
                    return await self._finish(run, p.state, p.reasons, success=True, mirror=mirror,
                                              account=rt.account)
                action = p.actions[0]
                self._count(action.kind)
                if run.search is None and not mirror.customer_searched and mirror.order_id is None \
                        and isinstance(action, (LoadItems, LoadStock)):
                    wanted = (order.customer.email if "email" in rt.settings.customer_match else "",
                              order.customer.phone if "phone" in rt.settings.customer_match else "")
                    run.search = (wanted, asyncio.create_task(self._search_buyer(rt, run, *wanted)))
                if isinstance(action, LoadItems):
                    items = {**(items or {}), **await rt.heartland.items(action.skus, rt.settings.item_match)}
                    continue
                if isinstance(action, LoadStock):
                    if run.stocking is not None:   # the read is out already
                        await run.stock_in()
                    elif mirror.order_id is None:   # a new order: created while its stock is read
                        run.stocking = asyncio.create_task(self._load_stock(rt, run, action.item_ids, mirror))
                    else:
                        await self._load_stock(rt, run, action.item_ids, mirror)
                    continue
                if isinstance(action, FindCustomer):
                    mirror = await self._find_customer(rt, run, order, mirror, action)
                    continue
                # With rows journaled ahead, each step goes out as planned: grouping steps would
                # only cost planning, the journal write is done. Otherwise plan as far as possible.
                # A new order's lines are the exception: its taxes and payments go with them, at once.
                planned = creation_batch(inp, p) if early is not None and not run.journal.ahead else \
                    batch(inp, p) if not run.journal.ahead else \
                    batch(inp, p, only=CONCURRENT_KINDS) if p.actions[0].kind == "add_line" else Batch(p.actions)
                actions = planned.actions
                replanned = _replanned_return(actions, pinned)
                if replanned is not None:
                    return await self._finish(run, DEAD, (replanned,), success=False, error=replanned.message,
                                              mirror=mirror, account=rt.account)
                # Hold the routed units before the first request, so no other order routes to them.
                # Another order (of any daemon) may have taken some since the read: plan again.
                if not await self._ledger.reserve(rt.account, key, routed_units(actions, mirror), run.stock_read):
                    continue
                # A batch is journaled (perhaps ahead, with an earlier batch) before its first
                # request; its mutations then run in order, their answers recorded later (sync/journal.py).
                # Independent mutations of one step (lines, taxes, payments; an invoice's lines) go
                # out together, each under its own row (sync/execute.py).
                ids = await run.journal.begin(actions, mirror, planned.ahead)
                for start, end in concurrent_groups(actions):
                    group = actions[start:end]
                    started = time.perf_counter()
                    sending = group[0]
                    try:
                        mirror, failure, failed = await execute_together(
                            rt.heartland, run.journal, self._dialect, mirror, group, ids[start:end])
                    finally:
                        for act in group:
                            self._observe_step(act.kind, time.perf_counter() - started)
                    if failure is not None:
                        sending = failed
                        run.journal.unsent(ids[end:])
                        raise failure
                    sending = None
                    if isinstance(group[-1], SetStatus):
                        await self._ledger.release(key)   # Heartland commits (or frees) the stock itself now
            except HeartlandError as exc:
                if run.recalled and isinstance(sending, (CreateOrder, AddAddress)) and \
                        isinstance(exc, (HeartlandValidationError, HeartlandNotFound)):
                    mirror = await self._forget_customer(rt, run, mirror, exc)
                    continue
                quick_failures += 1
                failure = failure_of(exc, sending, self._dialect.status_open)
                log.warning("heartland_" + failure.kind, error=failure.error, step=failure.action)
                decision = decide(failure, quick_failures=quick_failures, attempts=row.attempts, policy=self._retry,
                                  waited=self._now() - row.first_event_at)
                if isinstance(decision, Refresh):
                    dirty = True
                elif isinstance(decision, RetrySoon):
                    await asyncio.sleep(decision.delay_s)
                else:
                    return await self._settle(run, decision, mirror, rt.account)
        return await self._finish(run, FAILED, (Reason("no_convergence", f"no convergence after {MAX_STEPS} steps"),),
                                  success=False, mirror=mirror, account=rt.account,
                                  next_attempt_at=self._now() + timedelta(minutes=10))

    async def _release_if_committed(self, key: tuple[str, int], mirror: Mirror) -> None:
        """Holds passed to this run (a daemon died after opening the order, before releasing them)
        are counted by Heartland already once the order is past pending: drop them at once."""
        if mirror.order_id is not None and mirror.status not in (None, self._dialect.status_pending):
            await self._ledger.release(key)

    async def _recover(self, rt: ShopRuntime, run: OrderRun, public_id: str, known: Mirror) -> Recovered | Unaccounted:
        """Re-read Heartland and rebuild the mirror with the journal (sync/recovery.py says how)."""
        entries = run.journal.overlay(await self._store.journal_entries(run.row.shop, run.row.order_id))
        reading = await rt.heartland.read_order(public_id, ticket_names(entries, known))
        addresses = None
        if reading is None and known.customer_id is not None and open_addresses(entries, known):
            addresses = FoundCustomer(known.customer_id, await rt.heartland.customer_addresses(known.customer_id))
        return rebuild(reading, entries, known, addresses)

    async def _load_stock(self, rt: ShopRuntime, run: OrderRun, item_ids: tuple[int, ...], mirror: Mirror) -> None:
        # The order's own holds become what its lines take in Heartland (a run that took over a
        # killed daemon's order, or whose send failed after its hold, holds nothing it didn't route).
        read = await self._ledger.open_read(rt.account, item_ids, (run.row.shop, run.row.order_id),
                                            held_by_lines(mirror, self._dialect.status_pending))
        raw = await rt.heartland.stock(item_ids)
        run.stock_read = (raw, read)   # a newer read replaces an older one

    async def _find_customer(self, rt: ShopRuntime, run: OrderRun, order: ShopifyOrder, mirror: Mirror,
                             action: FindCustomer) -> Mirror:
        """Only reads: what it finds is stored with the run's next write (a crash just searches again).
        A buyer mortard has met on this account before is recalled from the customer memory instead."""
        search, run.search = run.search, None
        if search is not None and search[0] == (action.email, action.phone) and not run.forgot:
            found = await search[1]
        else:
            if search is not None:
                search[1].cancel()
            found = await self._search_buyer(rt, run, action.email, action.phone)
        mirror = replace(mirror, customer_searched=True, customer_id=found.customer_id)
        if found.customer_id is not None:
            listed = [{"id": ident, **a.as_heartland()} for ident, a in found.addresses]
            # An existing customer's identical address is reused rather than added again.
            mirror = replace(mirror, billing_address_id=matching_address(order.billing_address, listed),
                             shipping_address_id=matching_address(order.shipping_address, listed))
        return mirror

    async def _search_buyer(self, rt: ShopRuntime, run: OrderRun, email: str, phone: str) -> FoundCustomer:
        """The buyer from the customer memory, else from Heartland's customer search."""
        run.buyer_key = buyer_key(rt.settings.customer_match, email, phone)
        known = None
        if self._customers is not None and run.buyer_key is not None and not run.forgot:
            known = await self._customers.recall(rt.account, run.buyer_key)
        if known is not None:
            run.buyer, run.recalled = known, True
            return FoundCustomer(known[0], tuple((i, _as_address(a)) for i, a in known[1]))
        found = await rt.heartland.find_customer(rt.settings.customer_match, email, phone)
        if found.customer_id is not None:
            run.buyer = (found.customer_id, tuple((i, a.as_heartland()) for i, a in found.addresses))
        return found

    async def _remember_customer(self, rt: ShopRuntime, run: OrderRun, order: ShopifyOrder, mirror: Mirror) -> None:
        """After a run that searched for the buyer: remember who they are in Heartland, with the
        addresses this order used (written only when that changed)."""
        if self._customers is None or run.buyer_key is None or mirror.customer_id is None:
            return
        addresses = dict(run.buyer[1]) if run.buyer is not None and run.buyer[0] == mirror.customer_id else {}
        for ident, addr in ((mirror.billing_address_id, order.billing_address),
                            (mirror.shipping_address_id, order.shipping_address)):
            if ident is not None and addr is not None and ident > 0:
                addresses[ident] = addr.as_heartland()
        await self._customers.remember(rt.account, run.buyer_key, mirror.customer_id, sorted(addresses.items()))

    async def _forget_customer(self, rt: ShopRuntime, run: OrderRun, mirror: Mirror, exc: HeartlandError) -> Mirror:
        """Heartland refused a request naming a recalled customer or address: it no longer has them
        (merged, deleted). Forget the buyer and search Heartland as for a new one."""
        assert self._customers is not None and run.buyer_key is not None and run.buyer is not None
        log.info("remembered_customer_refused", customer_id=run.buyer[0], error=str(exc))
        await self._customers.forget(rt.account, run.buyer_key, run.buyer[0])
        run.buyer, run.recalled, run.forgot = None, False, True
        return replace(mirror, customer_searched=False, customer_id=None, billing_address_id=None,
                       shipping_address_id=None)

    async def _settle(self, run: OrderRun, decision: Settle, mirror: Mirror, account: str) -> bool:
        """End the run as the failure policy decided."""
        if decision.retry_in is not None:
            log.info("order_parked", retry_in_s=round(decision.retry_in.total_seconds(), 1), error=decision.error)
        return await self._finish(run, decision.state, (decision.reason,), success=decision.success,
                                  error=decision.error, mirror=mirror, account=account,
                                  next_attempt_at=None if decision.retry_in is None else self._now() + decision.retry_in)

    async def _finish(self, run: OrderRun, state: str, reasons: tuple[Reason, ...], *, success: bool,
                      error: str | None = None, mirror: Mirror | None = None, account: str | None = None,
                      next_attempt_at: datetime | None = None) -> bool:
        await run.end_reads()   # the run ended before it needed the buyer or the stock (pending, dead, ...)
        row = run.row
        # Answers are recorded only with the mirror they produced; without it (a crash in the run)
        # their rows stay `sent`, and the next run re-reads Heartland.
        outcomes = run.journal.take() if mirror is not None else []
        again = await self._store.finish(row.shop, row.order_id, state=state, reasons=reasons, error=error,
                                         seen_seq=row.due_seq, success=success, next_attempt_at=next_attempt_at,
                                         account=account, outcomes=outcomes,
                                         mirror=mirror.to_json() if mirror is not None else None,
                                         heartland_order_id=mirror.order_id if mirror is not None else None)
        self.stats.converged += 1
        self.stats.by_state[state] = self.stats.by_state.get(state, 0) + 1
        if self._metrics is not None:
            self._metrics.orders_completed_total.labels(outcome=state).inc()
        level = log.warning if state in (PENDING, DEAD, FAILED) else log.info
        level("order_" + state, reasons=[r.code for r in reasons] or None,
              heartland_order_id=mirror.order_id if mirror else None)
        return again

    def _count(self, kind: str) -> None:
        self.stats.actions[kind] = self.stats.actions.get(kind, 0) + 1

    def _observe_step(self, kind: str, seconds: float) -> None:
        if self._metrics is not None:
            timer = self._step_timers.get(kind)
            if timer is None:
                timer = self._step_timers[kind] = self._metrics.step_duration_seconds.labels(step=kind)
            timer.observe(seconds)


def _replanned_return(actions: Sequence[Any], pinned: Mapping[int, str]) -> Reason | None:
    """A return ticket journaled before a failure, not found in Heartland, is re-sent only as it
    was planned: a re-plan that would record the same refund differently means the picture changed
    in a way recovery did not expect, so a person looks rather than a second, different ticket."""
    for a in actions:
        if isinstance(a, CreateTicket) and a.refund_id in pinned and \
                ticket_fingerprint(a.describe()) != pinned[a.refund_id]:
            return Reason("return_replanned", f"the return ticket {a.public_id} for refund {a.refund_id} "
                                              f"would differ from the one sent before a failure")
    return None


def buyer_key(rules: Sequence[str], email: str, phone: str) -> str | None:
    """What the customer search looks for first ("email:…" or "phone:…"): the customer memory's key."""
    for rule in rules:
        value = email if rule == "email" else phone
        if value:
            return f"{rule}:{value.strip().lower()}"
    return None


def _as_address(fields: Mapping[str, Any]) -> Address:
    return Address(**{k: str(fields.get(k) or "") for k in Address.__dataclass_fields__})
