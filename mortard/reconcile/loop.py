"""Reconciliation: per shop, on an interval, ask Shopify which orders changed since the durable watermark
(minus an overlap) and take into the inbox every change mortard has not stored — by the consumer's own
statement, so dedupe, the newest-snapshot merge and the planner treat it like a webhook.

The watermark moves only after the orders it covers are durable, and never past `now - settle`
(changes that young are left to webhooks still in flight, so they are not counted as missed). The
first run backfills `backfill_s`. Listing is cheap (ids and stamps); only orders not stored are fetched.
"""
from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Protocol, Sequence

import structlog

from mortard.reconcile.events import fetched_event
from mortard.reconcile.subscriptions import SubscriptionCheck, check_subscriptions
from mortard.shopify.errors import ShopifyOrderTooLarge
from mortard.store.events import InboxEvent
from mortard.sync.ports import OrderStamp, ShopifyPort

log = structlog.get_logger(__name__)


class ReconcileStorePort(Protocol):
    async def watermark(self, shop: str) -> datetime | None: ...
    async def advance_watermark(self, shop: str, to: datetime) -> None: ...
    async def record_run(self, shop: str, *, ok: bool, error: str | None, recovered: int) -> None: ...
    async def stored_updated_at(self, shop: str, order_ids: Sequence[int]) -> dict[int, datetime | None]: ...
    async def take_in(self, events: Sequence[InboxEvent], source: str) -> list[bool]: ...
    async def lead(self, shop: str, owner: str, ttl_s: float) -> bool: ...


@dataclass(frozen=True, slots=True)
class ReconcileSettings:
    interval_s: float = 300.0
    overlap_s: float = 600.0
    backfill_s: float = 86_400.0
    settle_s: float = 60.0
    page_size: int = 100
    webhook_address: str = ""
    api_version: str = ""

    @classmethod
    def of(cls, cfg: Any) -> ReconcileSettings:
        """From a `config.ShopifyConfig`."""
        return cls(interval_s=cfg.reconcile_interval_s, overlap_s=cfg.overlap_s, backfill_s=cfg.backfill_s,
                   settle_s=cfg.settle_s, page_size=cfg.page_size, webhook_address=cfg.webhook_address,
                   api_version=cfg.api_version)


@dataclass(frozen=True, slots=True)
class ReconcileResult:
    listed: int
    fetched: int
    recovered: int
    watermark: datetime | None


class Reconciler:
    def __init__(self, shop: str, port: ShopifyPort, store: ReconcileStorePort, settings: ReconcileSettings, *,
                 metrics: Any = None, on_due: Callable[[str, int], None] | None = None,
                 now: Callable[[], datetime] = lambda: datetime.now(timezone.utc), owner: str = "",
                 on_subscriptions: Callable[[str, SubscriptionCheck], Awaitable[None]] | None = None) -> None:
        self.shop = shop
        self.owner = owner      # "" = don't coordinate (one process); else lead the shop among daemons
        self.port = port
        self.store = store
        self.settings = settings
        self.metrics = metrics
        self.on_due = on_due
        self.now = now
        self.subscriptions_missing: int | None = None
        self.on_subscriptions = on_subscriptions    # stores the last check (the console reads it)
        self.runs = 0
        self.skipped = 0        # orders too large to fetch in one query (logged; a person must look)

    async def run_once(self) -> ReconcileResult:
        s = self.settings
        now = self.now()
        horizon = now - timedelta(seconds=s.settle_s)
        mark = await self.store.watermark(self.shop)
        since = (mark - timedelta(seconds=s.overlap_s)) if mark else now - timedelta(seconds=s.backfill_s)
        listed = fetched = recovered = 0
        cursor: str | None = None
        while True:
            page = await self.port.orders_updated_since(since, cursor, s.page_size)
            ripe = [st for st in page.stamps if st.updated_at <= horizon]
            listed += len(ripe)
            f, r = await self._take_in(ripe)
            fetched += f
            recovered += r
            if ripe:
                # Durable up to the newest stamp of this page: the list is sorted by updated_at.
                top = max(st.updated_at for st in ripe)
                await self.store.advance_watermark(self.shop, top)
                mark = max(mark, top) if mark else top
            cursor = page.next_cursor
            if cursor is None or len(ripe) < len(page.stamps):
                break
        # Every change up to the horizon has been listed (the list is sorted by updated_at) and is durable.
        await self.store.advance_watermark(self.shop, horizon)
        mark = max(mark, horizon) if mark else horizon
        self.runs += 1
        return ReconcileResult(listed, fetched, recovered, mark)

    async def _take_in(self, stamps: list[OrderStamp]) -> tuple[int, int]:
        if not stamps:
            return 0, 0
        stored = await self.store.stored_updated_at(self.shop, [st.order_id for st in stamps])
        events = []
        for st in stamps:
            have = stored.get(st.order_id)
            if have is not None and have >= st.updated_at:
                continue
            try:
                order = await self.port.order(st.order_id)
            except ShopifyOrderTooLarge as exc:
                # One order the client can't read whole must not hold the watermark back for all others.
                log.error("reconcile_order_unreadable", shop=self.shop, order_id=st.order_id, error=str(exc))
                self.skipped += 1
                continue
            if order is None:      # deleted between the list and the fetch
                continue
            events.append(fetched_event(self.shop, order, "reconcile"))
        new = await self.store.take_in(events, "reconcile")
        recovered = 0
        for e, is_new in zip(events, new):
            if is_new:
                recovered += 1
                log.warning("reconcile_recovered_order", shop=self.shop, order_id=e.order_id,
                            updated_at=e.snapshot_updated_at.isoformat() if e.snapshot_updated_at else None)
                if self.on_due is not None:
                    self.on_due(self.shop, e.order_id)
        return len(events), recovered

    async def check_subscriptions(self) -> int | None:
        """Missing subscriptions (the gauge); None when no webhook address is configured."""
        if not self.settings.webhook_address:
            return None
        check = check_subscriptions(await self.port.webhook_subscriptions(), self.settings.webhook_address,
                                    self.settings.api_version)
        self.subscriptions_missing = check.missing
        if self.on_subscriptions is not None:
            await self.on_subscriptions(self.shop, check)
        if self.metrics is not None:
            self.metrics.webhook_subscriptions_missing.labels(self.shop).set(check.missing)
        if check.missing:
            log.warning("webhook_subscriptions_missing", shop=self.shop,
                        topics=[t.topic for t in check.topics if t.status != "ok"])
        return check.missing

    async def tick(self) -> ReconcileResult | None:
        """One round: subscriptions, then the sweep; failures are counted and logged, never raised.
        With an owner, only the daemon leading the shop this round does it."""
        m = self.metrics
        if self.owner:
            try:
                if not await self.store.lead(self.shop, self.owner, max(30.0, 3 * self.settings.interval_s)):
                    return None
            except Exception as exc:    # noqa: BLE001 - Postgres away: the next round tries again
                log.warning("reconcile_lead_failed", shop=self.shop, error=str(exc))
                return None
        try:
            await self.check_subscriptions()
        except Exception as exc:    # noqa: BLE001 - a failed check must not stop reconciliation
            log.warning("webhook_subscription_check_failed", shop=self.shop, error=str(exc))
        try:
            result = await self.run_once()
        except asyncio.CancelledError:
            raise
        except Exception as exc:    # noqa: BLE001 - any failure is one failed run; the next one retries
            log.error("reconcile_failed", shop=self.shop, error=str(exc), error_type=type(exc).__name__)
            if m is not None:
                m.reconcile_runs_total.labels(self.shop, "failed").inc()
            try:
                await self.store.record_run(self.shop, ok=False, error=f"{type(exc).__name__}: {exc}", recovered=0)
            except Exception:       # noqa: BLE001 - the database may be what failed
                pass
            return None
        await self.store.record_run(self.shop, ok=True, error=None, recovered=result.recovered)
        if m is not None:
            m.reconcile_runs_total.labels(self.shop, "ok").inc()
            m.reconcile_recovered_orders_total.labels(self.shop).inc(result.recovered)
            m.reconcile_last_success_timestamp_seconds.labels(self.shop).set(time.time())
            if result.watermark is not None:
                m.reconcile_lag_seconds.labels(self.shop).set(
                    max(0.0, (self.now() - result.watermark).total_seconds()))
        if result.recovered:
            log.warning("reconcile_run", shop=self.shop, listed=result.listed, fetched=result.fetched,
                        recovered=result.recovered)
        return result

    async def run_forever(self, stop: asyncio.Event | None = None) -> None:
        stop = stop or asyncio.Event()
        while not stop.is_set():
            await self.tick()
            try:
                await asyncio.wait_for(stop.wait(), timeout=self.settings.interval_s)
            except asyncio.TimeoutError:
                pass
