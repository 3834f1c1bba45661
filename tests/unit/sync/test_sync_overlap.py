"""A new order's stock is read while its customer and order are created (sync/overlap.py): the steps
planned without the stock are the ones the planner plans with any stock, the stock read is in flight
while the customer is created, and a run never leaves the read behind."""
from __future__ import annotations

import asyncio
from dataclasses import dataclass, field, replace

import pytest

from mortard.heartland_contract.dialect import DEFAULT_DIALECT as DIALECT
from mortard.heartland_contract.errors import HeartlandUnavailable, HeartlandValidationError
from mortard.sync.actions import FindCustomer, LoadStock
from mortard.sync.apply import apply_result
from mortard.sync.failures import RetryPolicy
from mortard.sync.machine import OrderMachine, ShopRuntime
from mortard.sync.model import Mirror, ShopifyOrder
from mortard.sync.overlap import CREATION_KINDS, creating, creation_batch, reads_stock_first
from mortard.sync.plan import PlanInput, plan
from mortard.testing.shopify import order_payload
from test_sync_changes import BIGGER, CATALOG, EAST, ITEMS, SETTINGS, SPEC, WEST
from test_sync_machine import SHOP, Port, Store, kinds, row

STOCKS = {"plenty": {(i.id, loc): 50 for i in ITEMS.values() for loc in (EAST, WEST)},
          "none": {}, "some": {(501, WEST): 1, (502, EAST): 2}}
ORDERS = {"spec": SPEC, "bigger": BIGGER, "billing only": replace(SPEC, addresses="billing"),
          "no address": replace(SPEC, addresses="none"), "no email": replace(SPEC, email="")}


def new_order(spec, mirror: Mirror | None = None) -> PlanInput:
    order = ShopifyOrder.parse(order_payload(spec), {}, {})
    return PlanInput(order, mirror or Mirror(), SETTINGS, CATALOG, DIALECT, {k: ITEMS.get(k) for k in ITEMS})


@pytest.mark.parametrize("stock", sorted(STOCKS))
@pytest.mark.parametrize("name", sorted(ORDERS))
def test_a_new_orders_creation_steps_are_the_same_whatever_its_stock(name, stock):
    inp = new_order(ORDERS[name])
    assert reads_stock_first(inp, plan(inp))
    seen, ids = [], iter(range(7000, 7100))
    for _ in range(10):
        with_stock = plan(replace(inp, stock=STOCKS[stock]))
        early = creating(inp)
        if with_stock.actions[0].kind not in CREATION_KINDS:
            assert early is None   # the next step needs the stock: it waits for the read
            break
        assert early == with_stock, seen
        step = with_stock.actions[0]
        seen.append(step.kind)
        mirror = replace(inp.mirror, customer_searched=True) if isinstance(step, FindCustomer) else \
            apply_result(inp.mirror, step, next(ids), DIALECT)
        inp = replace(inp, mirror=mirror)
    assert seen[0] == "find_customer" and seen[-1] == "create_order"


def test_the_creation_steps_are_journaled_in_one_write_without_anything_that_needs_stock():
    inp = new_order(SPEC, Mirror(customer_searched=True))
    b = creation_batch(inp, creating(inp))
    assert [a.kind for a in b.actions] == ["create_customer"]
    assert [a.kind for a in b.ahead] == ["add_address", "create_order"]   # lines wait for the stock


def test_a_known_customers_order_is_created_while_its_stock_is_read():
    inp = new_order(SPEC, Mirror(customer_searched=True, customer_id=42, billing_address_id=43,
                                 shipping_address_id=43))
    b = creation_batch(inp, creating(inp))
    assert [a.kind for a in b.actions] == ["create_order"] and not b.ahead


@dataclass
class SlowStockPort(Port):
    """Answers the stock read only once `release_on` was sent (or never); records whether each
    request's journal row was durable before it left."""

    store: Store | None = None
    release_on: str | None = "create_customer"
    fail_stock: int = 0
    released: asyncio.Event = field(default_factory=asyncio.Event)
    stock_cancelled: bool = False
    unjournaled: list[str] = field(default_factory=list)

    async def stock(self, item_ids):
        try:
            await asyncio.wait_for(self.released.wait(), 5.0)
        except asyncio.CancelledError:
            self.stock_cancelled = True
            raise
        if self.fail_stock:
            self.fail_stock -= 1
            raise HeartlandUnavailable("connection refused")
        return await super().stock(item_ids)

    async def send(self, mirror, action):
        assert self.store is not None
        if not any(r["action"] == action.kind and r["status"] == "sent" for r in self.store.rows.values()):
            self.unjournaled.append(action.kind)
        if action.kind == self.release_on:
            self.released.set()
        return await super().send(mirror, action)


async def run_order(port: SlowStockPort, spec=SPEC) -> str:
    store = Store()
    port.store = store
    machine = OrderMachine(store, {SHOP: ShopRuntime(SETTINGS, "acme", port)}, DIALECT,
                           retry=RetryPolicy(base_s=0.01))
    await asyncio.wait_for(machine.run(SHOP, spec.order_id, row(order_payload(spec))), 10.0)
    return store.finished[-1]["state"]


async def test_a_new_orders_stock_is_read_while_its_customer_is_created():
    port = SlowStockPort()   # without the overlap the read waits for a create that never comes
    assert await run_order(port) == "invoiced"
    assert kinds(port)[:3] == ["create_customer", "add_address", "create_order"]
    assert kinds(port).count("add_line") == 2 and not port.unjournaled


async def test_a_stock_read_that_fails_beside_the_creation_is_read_again():
    port = SlowStockPort(fail_stock=1)
    assert await run_order(port) == "invoiced"
    assert sorted(kinds(port)) == sorted(await _clean_kinds())   # nothing sent twice
    assert not port.unjournaled


async def _clean_kinds() -> list[str]:
    port = SlowStockPort(release_on=None)
    port.released.set()
    assert await run_order(port) == "invoiced"
    return kinds(port)


async def test_a_run_that_ends_before_its_stock_read_cancels_it():
    class Refusing(SlowStockPort):
        async def send(self, mirror, action):
            if action.kind == "create_customer":
                raise HeartlandValidationError("email is invalid", status=422)
            return await super().send(mirror, action)

    port = Refusing(release_on=None)
    state = await run_order(port)
    assert state != "invoiced" and port.stock_cancelled and kinds(port) == []


def test_an_existing_orders_stock_read_is_not_overlapped():
    inp = new_order(SPEC)
    assert isinstance(plan(inp).actions[0], LoadStock)
    opened = replace(inp, mirror=Mirror(customer_searched=True, customer_id=1, order_id=9))
    assert creating(opened) is None and not reads_stock_first(opened, plan(inp))
