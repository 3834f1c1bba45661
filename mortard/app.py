"""The daemon's lifecycle: start the parts in order, say READY, run, drain on SIGTERM, stop.

Wiring lives here and only here: the parts get what they need passed in.
"""
from __future__ import annotations

import asyncio
import signal
import time
from dataclasses import dataclass, field, fields
from typing import Any

import asyncpg
import structlog

from mortard import __version__
from mortard.config import Config, ShopConfig, build
from mortard.consume.consumer import InboxConsumer
from mortard.heartland import AccountLimits, FairSlots, HeartlandAccount, HeartlandClient
from mortard.heartland.catalog import AccountCatalog
from mortard.heartland.gateway import HeartlandGateway
from mortard.ops import LoopMonitor, Metrics, Notifier, OpsServer, eventloop
from mortard.store.customers import CustomerMemory
from mortard.store.db import migrate, ping, pool_from_config
from mortard.store.instance import InstanceLock, InstanceTaken, owner_id
from mortard.store.orders import OrderStore
from mortard.store.reservations import StockHolds
from mortard.store.shops import settings_overrides
from mortard.store.stats import orders_by_state, pending_reasons
from mortard.sync.failures import RetryPolicy
from mortard.sync.machine import OrderMachine, ShopRuntime
from mortard.sync.scheduler import Scheduler
from mortard.sync.settings import ShopSettings

log = structlog.get_logger(__name__)

# Why pending orders wait, by reason code (for mortard_orders_pending_reasons).
async def effective_shop_settings(pool: asyncpg.Pool, shops: dict[str, ShopConfig]) -> dict[str, ShopSettings]:
    """Config-file settings with operator overrides from the shops table (`mortard shops set`) on top."""
    rows = await settings_overrides(pool)
    out = {}
    for domain, shop in shops.items():
        base = {f.name: getattr(shop.settings, f.name) for f in fields(ShopSettings)}
        overrides = rows.get(domain) or {}
        out[domain] = build(ShopSettings, {**base, **overrides}, f"shops.{domain}.settings") if overrides else shop.settings
    return out


def heartland_account(cfg: Config, name: str) -> HeartlandAccount:
    acc = cfg.accounts[name]
    return HeartlandAccount(name=name, token=acc.token.reveal(), base_url=acc.resolved_base_url,
                            rate_per_second=acc.rate_per_second, burst=acc.burst,
                            max_concurrency=acc.max_concurrency,
                            initial_concurrency=min(acc.max_concurrency, max(1, acc.max_concurrency // 2)),
                            request_timeout=acc.request_timeout_s)


@dataclass
class Daemon:
    """`mortard run`: consume → inbox → sync → Heartland, with the ops listener beside it."""

    config: Config
    owner: str = ""     # the lease owner name; from kafka.group_instance_id when set (store/instance.py)
    metrics: Metrics = field(default_factory=lambda: Metrics(version=__version__))
    pool: asyncpg.Pool | None = None
    consumer: InboxConsumer | None = None
    scheduler: Scheduler | None = None
    machine: OrderMachine | None = None
    clients: dict[str, HeartlandClient] = field(default_factory=dict)
    ops: OpsServer | None = None
    ready: asyncio.Event = field(default_factory=asyncio.Event)
    _stop: asyncio.Event = field(default_factory=asyncio.Event)
    _monitor: LoopMonitor | None = None
    _notifier: Notifier = field(default_factory=Notifier)
    _background: list[asyncio.Task[Any]] = field(default_factory=list)
    _instance: InstanceLock | None = None
    instance_lost: bool = False

    def request_stop(self) -> None:
        self._stop.set()

    async def start(self) -> None:
        cfg = self.config
        self._notifier.status("connecting to Postgres")
        self.pool = await pool_from_config(cfg.database, cfg.database_password)
        async with self.pool.acquire() as conn:
            applied = await migrate(conn)
        if applied:
            log.info("migrations_applied", migrations=applied)
        settings = await effective_shop_settings(self.pool, cfg.shops)
        self.owner = self.owner or owner_id(cfg.kafka.group_instance_id)
        self._instance = InstanceLock(self.pool, self.owner)
        self._notifier.status(f"taking the instance name {self.owner}")
        released = await self._instance.acquire(wait_s=cfg.daemon.lease_s / 4)
        if released:
            log.info("own_leases_expired", owner=self.owner, orders=released)

        observer = self.metrics.heartland_observer()
        catalogs: dict[str, AccountCatalog] = {}
        for name in cfg.accounts:
            account = heartland_account(cfg, name)
            client = HeartlandClient(account, dialect=cfg.dialect, observer=observer,
                                     limits=AccountLimits.for_account(account))
            self.clients[name] = client
            catalogs[name] = AccountCatalog(client)
        gateways = {name: HeartlandGateway(self.clients[name], catalogs[name]) for name in cfg.accounts}
        runtimes = {domain: ShopRuntime(settings[domain], shop.heartland_account, gateways[shop.heartland_account])
                    for domain, shop in cfg.shops.items()}
        store = OrderStore(self.pool, self.owner, cfg.daemon.lease_s)
        self.machine = OrderMachine(store, runtimes, cfg.dialect, ledger=StockHolds(self.pool, self.owner),
                                    retry=RetryPolicy(in_process=cfg.daemon.max_attempts_in_process,
                                                      max_attempts=cfg.daemon.max_attempts),
                                    metrics=self.metrics, customers=CustomerMemory(self.pool))
        slots = FairSlots(cfg.daemon.max_orders_in_flight)
        self.scheduler = Scheduler(self.machine, store, lambda shop: cfg.shops[shop].heartland_account
                                   if shop in cfg.shops else "?", slots=slots,
                                   sweep_interval_s=cfg.daemon.sweep_interval_s)

        self._notifier.status("joining the Kafka consumer group")
        self.consumer = InboxConsumer(cfg.kafka, self.pool, known_shops=set(cfg.shops),
                                      on_due=self.scheduler.on_due, metrics=self.metrics,
                                      client_id=f"mortard-{self.owner}", drain_timeout_s=cfg.daemon.drain_timeout_s)
        await self.consumer.start()
        self.scheduler.start()

        self._monitor = LoopMonitor(self.metrics, notifier=self._notifier, progress_check=self._progressing)
        self._monitor.start()
        self.ops = OpsServer(self.metrics, host=cfg.daemon.ops_host, port=cfg.daemon.ops_port,
                             readiness_checks={"postgres": self._postgres_ok, "kafka": self._kafka_ok,
                                               "sync": lambda: self.scheduler is not None},
                             liveness=lambda: self._monitor is not None and self._monitor.is_alive())
        await self.ops.start()
        self._background.append(asyncio.create_task(self._gauges(), name="state-gauges"))
        self._background.append(asyncio.create_task(self._watch_instance(), name="instance-lock"))
        self.ready.set()
        self._notifier.ready(f"consuming {cfg.kafka.topic} as {self.owner}")
        log.info("daemon_ready", owner=self.owner, topic=cfg.kafka.topic, ops_port=self.ops.port,
                 shops=sorted(cfg.shops), event_loop=eventloop.loop_name())

    async def run_until_stopped(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            try:
                loop.add_signal_handler(sig, self.request_stop)
            except (NotImplementedError, RuntimeError):
                pass
        await self.start()
        failed = asyncio.create_task(self.consumer.failed.wait()) if self.consumer else None
        stop = asyncio.create_task(self._stop.wait())
        try:
            await asyncio.wait([t for t in (failed, stop) if t], return_when=asyncio.FIRST_COMPLETED)
        finally:
            for t in (failed, stop):
                if t:
                    t.cancel()
            await self.stop()
        if self.consumer is not None and self.consumer.failed.is_set():
            raise RuntimeError("the inbox writer crashed; see the log line inbox_writer_crashed")

    async def stop(self) -> None:
        deadline = time.monotonic() + self.config.daemon.drain_timeout_s
        self._notifier.stopping("draining")
        log.info("daemon_stopping", in_flight=self.scheduler.in_flight if self.scheduler else 0)
        if self.consumer is not None:
            await self.consumer.stop()          # writes what is buffered, commits, leaves the group
        if self.scheduler is not None:
            left = await self.scheduler.drain(max(0.5, deadline - time.monotonic()))
            if left:
                log.warning("drain_deadline_reached", unfinished=left)
        for task in self._background:
            task.cancel()
        await asyncio.gather(*self._background, return_exceptions=True)
        if self._monitor is not None:
            await self._monitor.stop()
        if self.ops is not None:
            await self.ops.stop()
        for client in self.clients.values():
            await client.close()
        if self._instance is not None:
            await self._instance.release()
        if self.pool is not None:
            await self.pool.close()
        self._notifier.close()
        log.info("daemon_stopped")

    # -- health ----------------------------------------------------------------------------------

    async def _postgres_ok(self) -> bool:
        return self.pool is not None and await ping(self.pool)

    def _kafka_ok(self) -> bool:
        # Joined and consuming. No assignment is fine: a group may have more daemons than partitions.
        return self.consumer is not None and self.consumer.started and not self.consumer.failed.is_set()

    def _progressing(self) -> bool:
        # The loop ticks; the pipeline is stuck only if work is waiting and nothing moved for long.
        if self.scheduler is None:
            return True
        return self.scheduler.in_flight == 0 or time.monotonic() - self.scheduler.last_progress < 300

    async def _watch_instance(self) -> None:
        """Hold the instance name: when its connection is lost (Postgres restarted), take it again;
        if another daemon took it meanwhile, stop rather than share it."""
        assert self._instance is not None
        while True:
            await asyncio.sleep(1)
            if await self._instance.alive():
                continue
            log.warning("instance_lock_lost", owner=self.owner)
            try:
                await self._instance.reacquire()
            except InstanceTaken as exc:
                log.error("instance_taken", owner=self.owner, error=str(exc))
                self.instance_lost = True
                self.request_stop()
                return
            except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError) as exc:
                log.warning("instance_lock_retry", owner=self.owner, error=str(exc))

    async def _gauges(self) -> None:
        while True:
            try:
                assert self.pool is not None and self.scheduler is not None
                self.metrics.set_order_counts(await orders_by_state(self.pool))
                self.metrics.set_pending_reasons(await pending_reasons(self.pool))
                self.metrics.inflight_orders.set(self.scheduler.in_flight)
                for name, client in self.clients.items():
                    self.metrics.account_concurrency_limit.labels(account=name).set(client.limits.concurrency_limit)
                    self.metrics.account_breaker_open.labels(account=name).set(
                        1 if client.limits.breaker_state != "closed" else 0)
                if self.consumer is not None:
                    self._notifier.status(f"{len(self.consumer.assignment)} partitions, "
                                          f"{self.scheduler.in_flight} orders in flight")
            except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError) as exc:
                log.warning("gauge_update_failed", error=str(exc))
            await asyncio.sleep(5)


async def run_daemon(config: Config) -> int:
    daemon = Daemon(config)
    await daemon.run_until_stopped()
    return 0


__all__ = ["Daemon", "run_daemon", "heartland_account", "effective_shop_settings"]
