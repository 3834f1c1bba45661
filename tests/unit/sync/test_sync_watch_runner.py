"""The watch's pass with in-memory fakes: its calls stay within its budget, and passes that can't
reach every order share them out in turn."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from decimal import Decimal

from mortard.heartland_contract.dialect import DEFAULT_DIALECT
from mortard.sync.machine import ShopRuntime
from mortard.sync.model import Catalog, HLine, Location, Mirror
from mortard.sync.settings import ShopSettings
from mortard.sync.watch import OrderHeader
from mortard.sync.watch_runner import WatchRunner, WatchSettings

T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)
CATALOG = Catalog(locations={"ONLINE": Location(1, "ONLINE", "Online", 1), "S01": Location(2, "S01", "S01", 2)})


@dataclass
class Row:
    shop: str
    order_id: int
    order_name: str
    sync_state: str
    first_event_at: datetime
    updated_at: datetime
    mirror: dict
    heartland_order_id: int
    tags: str = ""
    snapshot: dict | None = None


class Store:
    def __init__(self, rows: list[Row]) -> None:
        self.rows = rows
        self.due: list[tuple[str, int]] = []

    async def take_turn(self, account, interval_s):
        return True

    async def watched(self, shops, states, *, within_s=None, limit=10_000):
        return [r for r in self.rows if r.sync_state in states and (r.shop, r.order_id) not in self.due]

    async def held(self, account, item_ids):
        return {}

    async def make_due(self, keys, states, *, dirty, why):
        self.due.extend(keys)
        return list(keys)

    async def record_drift(self, shop, order_id, kind, detail, seen_at):
        return True


class Port:
    def __init__(self, stock: dict) -> None:
        self.stock_reads: list[tuple[int, ...]] = []
        self.header_reads: list[list[int]] = []
        self.full_reads: list[str] = []
        self._stock = stock

    async def catalog(self, names):
        return CATALOG

    async def stock(self, item_ids):
        self.stock_reads.append(tuple(item_ids))
        return {u: q for u, q in self._stock.items() if u[0] in item_ids}

    async def read_order(self, public_id, tickets):
        self.full_reads.append(public_id)
        return None

    async def order_headers(self, ids):
        self.header_reads.append(list(ids))
        return {i: OrderHeader(i, "open", None, None, None) for i in ids}, -(-len(ids) // 250)


def waiting(n: int, item: int = 10) -> list[Row]:
    return [Row("shop", i, f"#{i}", "waiting_stock", T0 + timedelta(seconds=i), T0,
                Mirror(order_id=1000 + i, status="open",
                       lines=(HLine(i, i, item, 1, Decimal("1.00"), Decimal("1.00"), None),)).to_json(), 1000 + i)
            for i in range(n)]


def runner(store: Store, port: Port, **kw) -> WatchRunner:
    return WatchRunner(store, {"shop": ShopRuntime(ShopSettings(), "acme", port)}, DEFAULT_DIALECT,
                       rates={"acme": 5.0}, settings=WatchSettings(**{"interval_s": 60.0, "share": 0.1, **kw}))


async def test_one_stock_read_for_all_waiting_orders_and_the_oldest_made_due():
    store, port = Store(waiting(300)), Port({(10, 2): 3})
    report = await runner(store, port).pass_once("acme")
    assert port.stock_reads == [(10,)]
    assert store.due == [("shop", 0), ("shop", 1), ("shop", 2)]
    assert report.calls <= report.budget == 30
    assert len(port.header_reads) == 1 and len(port.full_reads) == 1     # headers of the 297 left; one sweep read


async def test_with_the_setting_off_no_stock_is_read():
    store, port = Store(waiting(5)), Port({(10, 2): 3})
    rt = ShopRuntime(ShopSettings(finish_when_stock_arrives=False), "acme", port)
    w = WatchRunner(store, {"shop": rt}, DEFAULT_DIALECT, rates={"acme": 5.0})
    await w.pass_once("acme")
    assert port.stock_reads == [] and store.due == []


async def test_a_pass_that_cannot_reach_every_header_leaves_the_rest_to_the_next():
    store, port = Store(waiting(1000)), Port({})
    w = runner(store, port, share=0.003, interval_s=200.0, sweep_reads=0)    # budget 3: 1 stock + 2 header reads
    first = await w.pass_once("acme")
    assert first.calls == first.budget == 3 and first.deferred
    second = await w.pass_once("acme")
    assert second.calls == 3
    a, b = port.header_reads
    assert len(a) == len(b) == 500 and not set(a) & set(b)
    assert set(a) | set(b) == {1000 + i for i in range(1000)}


async def test_a_held_account_defers_the_pass():
    store, port = Store(waiting(3)), Port({(10, 2): 3})
    w = WatchRunner(store, {"shop": ShopRuntime(ShopSettings(), "acme", port)}, DEFAULT_DIALECT,
                    rates={"acme": 5.0}, busy=lambda account: True)
    report = await w.pass_once("acme")
    assert report.deferred and report.calls == 0 and port.stock_reads == []
