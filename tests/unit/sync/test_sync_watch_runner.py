"""The watch's pass with in-memory fakes: its calls stay within its budget, and passes that can't
reach every order share them out in turn."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from decimal import Decimal

from mortard.heartland_contract.dialect import DEFAULT_DIALECT
from mortard.sync.machine import ShopRuntime
from mortard.sync.model import Catalog, HLine, HPayment, Location, Mirror
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
    reasons: tuple = ()


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


class FixedPort(Port):
    """A pending order staff fixed in Heartland: its custom field filled (on the header) and a
    payment taken (on the full read). Any write would be recorded."""

    def __init__(self, mirror: Mirror) -> None:
        super().__init__({})
        self.mirror = mirror
        self.writes: list = []

    async def order_headers(self, ids):
        self.header_reads.append(list(ids))
        m = self.mirror
        return {i: OrderHeader(i, "pending", m.order_total, None, None, {"gift_note": "typed by staff"})
                for i in ids}, 1

    async def read_order(self, public_id, tickets):
        from mortard.sync.ports import OrderReading, ReadLine
        self.full_reads.append(public_id)
        m = self.mirror
        return OrderReading(m.order_id, "pending", m.customer_id, None, None, m.shipping_charge,
                            tuple(ReadLine(h.id, h.item_id, h.qty, h.unit_price, h.original_price, h.location_id)
                                  for h in m.lines), m.tax_total, (HPayment(9, m.order_total, 7),), (), ())

    async def send(self, mirror, action):
        self.writes.append(action)
        return None, None

    async def set_status(self, order_id, status):
        self.writes.append(("set_status", order_id, status))


async def test_a_pending_order_staff_fixed_is_made_due_to_be_reread_and_the_watch_writes_nothing():
    """Opening it is the machine's, under its journal (a kill mid-write is recovered like any other)."""
    mirror = Mirror(customer_searched=True, customer_id=3, order_id=1500, status="pending",
                    lines=(HLine(1, 1, 10, 1, Decimal("5.00"), Decimal("5.00"), 2),))
    row = Row("shop", 1, "#1", "pending", T0, T0, mirror.to_json(), 1500)
    row.reasons = ("total_mismatch", "required_custom_field")
    store, port = Store([row]), FixedPort(mirror)
    report = await runner(store, port).pass_once("acme")
    assert store.due == [("shop", 1)] and report.fixed == [("shop", 1)]
    assert port.writes == []
