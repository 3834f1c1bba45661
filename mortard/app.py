"""The daemon's lifecycle: start the parts in order, say READY, run, drain on SIGTERM, stop.

Wiring lives here and only here: the parts get what they need passed in.
"""
from __future__ import annotations

import asyncio
import signal
import threading
import time
from dataclasses import dataclass, field, fields
from typing import Any

import asyncpg
import structlog
from aiokafka.errors import KafkaError

from mortard import __version__
from mortard.config import Config, ShopConfig, build
from mortard.consume.consumer import InboxConsumer
from mortard.heartland import AccountLimits, FairSlots, HeartlandAccount, HeartlandClient
from mortard.heartland.catalog import AccountCatalog
from mortard.heartland.gateway import HeartlandGateway
from mortard.heartland.token_check import TokenChecker
from mortard.reconcile.loop import ReconcileSettings, Reconciler
from mortard.shopify import ShopifyClient, ShopifyGateway, ShopifyShop
from mortard.consume.security import describe as describe_kafka
from mortard.ops import LoopMonitor, Metrics, Notifier, OpsServer, eventloop
from mortard.ops.shutdown import STOP_GRACE_S, arm_exit_deadline, end_tasks
from mortard.ops.startup import postgres_address, settle_gc, with_retries
from mortard.ops.throttled_log import ThrottledLog, is_outage
from mortard.store.customers import CustomerMemory
from mortard.store import health_checks
from mortard.store.db import migrate, ping, pool_from_config
from mortard.store.instance import InstanceLock, InstanceTaken, owner_id
from mortard.store.orders import OrderStore
from mortard.store.reservations import StockHolds
from mortard.store.shops import settings_overrides
from mortard.store.stats import orders_by_state, pending_reasons
from mortard.store.watch import WatchStore
from mortard.sync.failures import TOKEN_REFUSED, RetryPolicy
from mortard.sync.machine import OrderMachine, ShopRuntime
from mortard.sync.scheduler import Scheduler
from mortard.sync.watch_runner import WatchRunner, WatchSettings
from mortard.sync.settings import ShopSettings

log = structlog.get_logger(__name__)

# Postgres not (yet) accepting connections: refused, timed out, starting up or shutting down.
POSTGRES_DOWN = (OSError, asyncio.TimeoutError, asyncpg.CannotConnectNowError,
                 asyncpg.ConnectionDoesNotExistError, asyncpg.AdminShutdownError)

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
                            arrival_jitter=acc.arrival_jitter_ms / 1000,
                            max_concurrency=acc.max_concurrency,
                            initial_concurrency=min(acc.max_concurrency, max(1, acc.max_concurrency // 2)),
                            request_timeout=acc.request_timeout_s)


ORDERS_PER_ACCOUNT = 2   # in flight, at least, so every account can work at its own rate at once


def orders_in_flight(cfg: Config) -> int:
    """The daemon's bound on orders worked at once: the configured one, raised so each account can
    have two. An order holds its slot for all of its round trips, so with many accounts a smaller
    bound left most of them idle at peak (200 rate-limited accounts, 64 in flight: 48 % of their
    summed rate; 256: all of it, bench/pipeline.py). Each account's own limits still bound its calls."""
    return max(cfg.daemon.max_orders_in_flight, ORDERS_PER_ACCOUNT * len(cfg.accounts))


def shopify_client(shop: ShopConfig, observer: Any = None) -> ShopifyClient:
    """The shop's Admin API client; the shop must have a [shops.X.shopify] table."""
    sc = shop.shopify
    assert sc is not None
    return ShopifyClient(ShopifyShop(shop.domain, sc.token, api_version=sc.api_version, admin_url=sc.admin_url,
                                     request_timeout=sc.request_timeout_s), observer=observer)


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
    watch: WatchRunner | None = None
    tokens: TokenChecker | None = None
    clients: dict[str, HeartlandClient] = field(default_factory=dict)
    # Shops with Admin API access reconcile; without it mortard only listens.
    reconcilers: dict[str, Reconciler] = field(default_factory=dict)
    shopify_clients: dict[str, ShopifyClient] = field(default_factory=dict)
    ops: OpsServer | None = None
    ready: asyncio.Event = field(default_factory=asyncio.Event)
    _stop: asyncio.Event = field(default_factory=asyncio.Event)
    _monitor: LoopMonitor | None = None
    _notifier: Notifier = field(default_factory=Notifier)
    _background: list[asyncio.Task[Any]] = field(default_factory=list)
    _instance: InstanceLock | None = None
    instance_lost: bool = False
    exit_deadline: bool = False    # `mortard run`: end the process if a stop overruns its budget
    tune_gc: bool = False          # `mortard run`: the cyclic GC settled once started (ops/startup.py)
    _exit_timer: threading.Timer | None = None
    # Each account's gauge children, looked up once (a `.labels()` lookup every 5 s per account adds up
    # with hundreds of accounts): (limits, concurrency limit gauge, breaker open gauge).
    _account_gauges: list[tuple[AccountLimits, Any, Any]] = field(default_factory=list)

    def request_stop(self) -> None:
        if self.exit_deadline and self._exit_timer is None:
            # Whatever hangs (a broker that never answers a leave-group), the process ends in time.
            self._exit_timer = arm_exit_deadline(self.config.daemon.drain_timeout_s + STOP_GRACE_S)
        self._stop.set()

    async def start(self) -> None:
        cfg = self.config
        self._notifier.status("connecting to Postgres")
        self.pool = await with_retries("Postgres", postgres_address(cfg.database.url),
                                       lambda: pool_from_config(cfg.database, cfg.database_password),
                                       budget_s=cfg.daemon.startup_timeout_s, retry_on=POSTGRES_DOWN,
                                       refuse_on=(asyncpg.PostgresError,))
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
        slots = FairSlots(orders_in_flight(cfg))
        if slots.capacity > cfg.daemon.max_orders_in_flight:
            log.info("orders_in_flight_raised", configured=cfg.daemon.max_orders_in_flight,
                     used=slots.capacity, accounts=len(cfg.accounts))
        self.scheduler = Scheduler(self.machine, store, lambda shop: cfg.shops[shop].heartland_account
                                   if shop in cfg.shops else "?", slots=slots,
                                   sweep_interval_s=cfg.daemon.sweep_interval_s,
                                   outage_log=ThrottledLog(log, interval_s=60.0, only=is_outage))

        # Up before the group join, which can wait for ever in a stuck rebalance: /readyz says so.
        self.ops = OpsServer(self.metrics, host=cfg.daemon.ops_host, port=cfg.daemon.ops_port,
                             readiness_checks={"postgres": self._postgres_ok, "kafka": self._kafka_ok,
                                               "sync": lambda: self.scheduler is not None},
                             liveness=lambda: self._monitor is None or self._monitor.is_alive())
        self.tokens = self._token_checker()
        for name in cfg.accounts:
            self.ops.add_readiness_check(f"heartland_token:{name}",
                                         lambda name=name: self.tokens is None or self.tokens.accepted(name))
        await self.ops.start()
        self._notifier.status("joining the Kafka consumer group")
        self.consumer = InboxConsumer(cfg.kafka, self.pool, known_shops=set(cfg.shops),
                                      on_due=self.scheduler.on_due, metrics=self.metrics,
                                      client_id=f"mortard-{self.owner}", drain_timeout_s=cfg.daemon.drain_timeout_s)
        await with_retries("Kafka", describe_kafka(cfg.kafka), self.consumer.start,
                           budget_s=cfg.daemon.startup_timeout_s, retry_on=(KafkaError, OSError),
                           )   # TopicsMissing propagates: exit 78 (see cli.py)
        self.scheduler.start()
        self._start_reconcilers()

        self._monitor = LoopMonitor(self.metrics, notifier=self._notifier, progress_check=self._progressing)
        self._monitor.start()
        self._background.append(asyncio.create_task(self._gauges(), name="state-gauges"))
        self._background.append(asyncio.create_task(self._watch_instance(), name="instance-lock"))
        self._background.append(asyncio.create_task(self.tokens.run(self._stop), name="heartland-token-check"))
        self.watch = self._watcher(runtimes)
        self._background.append(asyncio.create_task(self.watch.run(self._stop), name="waiting-orders-watch"))
        if self.tune_gc:
            settle_gc()
        self.ready.set()
        self._notifier.ready(f"consuming {cfg.kafka.topic} as {self.owner}")
        log.info("daemon_ready", owner=self.owner, topic=cfg.kafka.topic, ops_port=self.ops.port,
                 shops=sorted(cfg.shops), event_loop=eventloop.loop_name())

    def _start_reconcilers(self) -> None:
        from mortard.store.reconcile import ReconcileStore
        assert self.pool is not None and self.scheduler is not None
        observer = self.metrics.shopify_observer()
        for domain, shop in self.config.shops.items():
            if shop.shopify is None or not shop.shopify.reconcile:
                continue
            client = self.shopify_clients[domain] = shopify_client(shop, observer)
            rec = self.reconcilers[domain] = Reconciler(
                domain, ShopifyGateway(client), ReconcileStore(self.pool), ReconcileSettings.of(shop.shopify),
                metrics=self.metrics, on_due=self.scheduler.on_due, owner=self.owner,
                on_subscriptions=self._store_subscriptions)
            self._background.append(asyncio.create_task(rec.run_forever(), name=f"reconcile-{domain}"))

    async def run_until_stopped(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            try:
                loop.add_signal_handler(sig, self.request_stop)
            except (NotImplementedError, RuntimeError):
                pass
        stop = asyncio.create_task(self._stop.wait())
        starting = asyncio.create_task(self.start(), name="daemon-start")
        # SIGTERM while still waiting for Postgres or Kafka (or a group join) stops the start too.
        await asyncio.wait([starting, stop], return_when=asyncio.FIRST_COMPLETED)
        if not starting.done():
            starting.cancel()
            await asyncio.gather(starting, return_exceptions=True)
            stop.cancel()
            await self.stop()
            return
        if starting.exception() is not None:
            stop.cancel()
            await self.stop()
            raise starting.exception()  # type: ignore[misc]
        failed = asyncio.create_task(self.consumer.failed.wait()) if self.consumer else None
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
        self._stop.set()     # the background loops end at their next turn, cancelled or not
        self._notifier.stopping("draining")
        log.info("daemon_stopping", in_flight=self.scheduler.in_flight if self.scheduler else 0)
        if self.consumer is not None:
            await self.consumer.stop()          # writes what is buffered, commits, leaves the group
        if self.scheduler is not None:
            left = await self.scheduler.drain(max(0.5, deadline - time.monotonic()))
            if left:
                log.warning("drain_deadline_reached", unfinished=left)
        await end_tasks(self._background, "background")
        if self._monitor is not None:
            await self._monitor.stop()
        if self.ops is not None:
            await self.ops.stop()
        for client in self.clients.values():
            await client.close()
        for shopify in self.shopify_clients.values():
            await shopify.close()
        if self._instance is not None:
            try:
                await asyncio.wait_for(self._instance.release(), 5)
            except (asyncio.TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError, OSError) as exc:
                log.warning("instance_release_failed", error=repr(exc))   # its lease expires anyway
        if self.pool is not None:
            try:
                await asyncio.wait_for(self.pool.close(), 5)
            except asyncio.TimeoutError:
                self.pool.terminate()
        self._notifier.close()
        log.info("daemon_stopped")

    def _watcher(self, runtimes: dict[str, ShopRuntime]) -> WatchRunner:
        """The watch over waiting orders. Its calls queue at the account's gate with the orders', at
        most its share of them; it waits out a 429 pause or an open breaker for the next interval."""
        cfg = self.config
        assert self.pool is not None and self.scheduler is not None
        clients = self.clients
        return WatchRunner(WatchStore(self.pool, self.owner), runtimes, cfg.dialect,
                           rates={n: a.rate_per_second for n, a in cfg.accounts.items()},
                           settings=WatchSettings(cfg.daemon.watch_interval_s, cfg.daemon.watch_share),
                           busy=lambda account: clients[account].limits.paused_until is not None
                           or clients[account].limits.breaker_state != "closed",
                           on_due=self.scheduler.on_due, metrics=self.metrics)

    # -- health ----------------------------------------------------------------------------------

    def _token_checker(self) -> TokenChecker:
        """Each account's token, checked at start and every heartland_token_check_s (readiness, the
        refused gauge, the stored verdict); a token that works again wakes the orders waiting for it."""
        cfg = self.config
        pool = self.pool
        assert pool is not None

        async def record(account: str, refused: bool, status: int | None, detail: str) -> None:
            await health_checks.record_token_check(pool, account, refused=refused, status=status, detail=detail)

        async def wake(account: str) -> None:
            shops = [d for d, s in cfg.shops.items() if s.heartland_account == account]
            woken = await health_checks.wake_token_waiters(pool, shops, TOKEN_REFUSED)
            if woken:
                log.info("heartland_token_waiters_woken", account=account, orders=woken)

        return TokenChecker(self.clients, interval_s=cfg.daemon.heartland_token_check_s, metrics=self.metrics,
                            record=record, on_accepted=wake)

    async def _store_subscriptions(self, shop: str, check: Any) -> None:
        assert self.pool is not None
        await health_checks.record_subscriptions(self.pool, shop, check.address, check.api_version,
                                                 [(t.topic, t.status) for t in check.topics])

    async def _postgres_ok(self) -> bool:
        return self.pool is not None and await ping(self.pool)

    def _kafka_ok(self) -> bool:
        # Joined, consuming, and holding partitions (or not for long): a group stuck in rebalance
        # must not look ready with lag 0.
        if self.consumer is None:
            return False
        problem = self.consumer.assignment_problem(self.config.kafka.max_unassigned_s)
        if problem is not None:
            log.warning("kafka_not_ready", reason=problem)
        return problem is None

    def _progressing(self) -> bool:
        # The loop ticks; the pipeline is stuck only if work is waiting and nothing moved for long.
        if self.scheduler is None:
            return True
        return self.scheduler.in_flight == 0 or time.monotonic() - self.scheduler.last_progress < 300

    async def _watch_instance(self) -> None:
        """Hold the instance name: when its connection is lost (Postgres restarted), take it again;
        if another daemon took it meanwhile, stop rather than share it."""
        assert self._instance is not None
        while not self._stop.is_set():
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

    def set_account_gauges(self) -> None:
        """Each account's concurrency limit and breaker state, to their gauges."""
        if len(self._account_gauges) != len(self.clients):
            m = self.metrics
            self._account_gauges = [(c.limits, m.account_concurrency_limit.labels(account=name),
                                     m.account_breaker_open.labels(account=name)) for name, c in self.clients.items()]
        for limits, limit_gauge, breaker_gauge in self._account_gauges:
            limit_gauge.set(limits.concurrency_limit)
            breaker_gauge.set(0 if limits.breaker_state == "closed" else 1)

    async def _gauges(self) -> None:
        gauge_log = ThrottledLog(log, interval_s=60.0)
        while not self._stop.is_set():
            try:
                assert self.pool is not None and self.scheduler is not None
                self.metrics.set_order_counts(await orders_by_state(self.pool))
                self.metrics.set_pending_reasons(await pending_reasons(self.pool))
                self.metrics.inflight_orders.set(self.scheduler.in_flight)
                self.set_account_gauges()
                if self.consumer is not None:
                    self._notifier.status(f"{len(self.consumer.assignment)} partitions, "
                                          f"{self.scheduler.in_flight} orders in flight")
            except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError) as exc:
                gauge_log.failure("gauge_update_failed", exc)
            await asyncio.sleep(5)


async def run_daemon(config: Config) -> int:
    daemon = Daemon(config, exit_deadline=True, tune_gc=True)
    await daemon.run_until_stopped()
    return 0


__all__ = ["Daemon", "run_daemon", "heartland_account", "effective_shop_settings", "shopify_client"]
