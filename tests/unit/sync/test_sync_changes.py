"""Changes after an order is placed (issue #5), planned against a fake Heartland that keeps stock and
refuses what the real one refuses: edits and refunds of open, partially invoiced and closed orders,
cancellation, exchanges, late and duplicated deliveries; then random edit/refund sequences."""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mortard.testing.shopify import LineSpec, OrderSpec, order_payload, refund_payload
from mortard.heartland_contract.dialect import DEFAULT_DIALECT as DIALECT
from mortard.sync.actions import (
    Action, AddLine, AddPayment, AddTax, CompleteInvoice, CreateTicket, DeleteLine, FindCustomer, LoadItems,
    LoadStock, Plan, SetShipping, SetStatus, UpdateLine,
)
from mortard.sync.apply import apply_result
from mortard.sync.batch import batch, routed_units
from mortard.sync.model import Catalog, Item, Location, Mirror, ShopifyOrder
from mortard.sync.plan import PlanInput, plan
from mortard.sync.settings import ShopSettings
from properties import examples

D = Decimal
ONLINE, EAST, WEST = 1, 10, 20
STATION_LOC = {100: ONLINE, 110: EAST, 120: WEST}
CATALOG = Catalog(
    locations={"ONLINE": Location(ONLINE, "ONLINE", "Web", 100), "EAST": Location(EAST, "EAST", "East", 110),
               "WEST": Location(WEST, "WEST", "West", 120)},
    payment_types={"Shopify": 7, "Gift Card": 8},
)
ITEMS = {
    "MUG": Item(501, "MUG", D("10.00")), "TEE": Item(502, "TEE", D("20.00")), "CAP": Item(503, "CAP", D("15.00")),
    "BAG": Item(505, "BAG", D("40.00")), "REFUND": Item(901, "REFUND", D("0.00"), track_inventory=False),
}
SETTINGS = ShopSettings(location_priority=("EAST", "WEST"))
EDITS = (AddLine, UpdateLine, DeleteLine, AddTax, SetShipping, AddPayment, SetStatus)


@dataclass
class Heartland:
    """The planner's loop plus the rules of a real account: closed orders refuse edits, line quantities
    never go below invoiced, tickets balance, and stock moves on invoices and restocking tickets."""

    available: dict[tuple[int, int], int]
    on_hand: Counter = field(default_factory=Counter)
    mirror: Mirror = field(default_factory=Mirror)
    next_id: int = 1000
    tickets: list[CreateTicket] = field(default_factory=list)
    log: list[Action] = field(default_factory=list)
    batched: bool = True   # as the daemon does (sync/batch.py); every batched mutation is still checked
    items: dict[str, Item] = field(default_factory=lambda: dict(ITEMS))   # the account's catalogue, by SKU

    def deliver(self, order: ShopifyOrder, s: ShopSettings = SETTINGS) -> Plan:
        items: dict[str, Item | None] | None = None
        stock: dict[tuple[int, int], int] | None = None
        for _ in range(300):
            inp = PlanInput(order, self.mirror, s, CATALOG, DIALECT, items, stock)
            p = plan(inp)
            assert plan(inp) == p
            if p.converged:
                return p
            for a in p.actions:
                if isinstance(a, LoadItems):
                    items = {**(items or {}), **{k: self.items.get(k) for k in a.skus}}
                elif isinstance(a, LoadStock):
                    stock = {k: v for k, v in self.available.items() if k[0] in a.item_ids}
                elif isinstance(a, FindCustomer):
                    self.mirror = replace(self.mirror, customer_searched=True)
            actions = batch(inp, p).actions if self.batched and all(a.mutation for a in p.actions) else p.actions
            for unit, qty in routed_units(actions, self.mirror).items():
                self.available[unit] = self.available.get(unit, 0) - qty
                if stock is not None:
                    stock[unit] = stock.get(unit, 0) - qty
            for a in actions:
                if a.mutation:
                    self._check(a)
                    self.next_id += 1
                    self.mirror = apply_result(self.mirror, a, self.next_id, DIALECT)
                    self.log.append(a)
        raise AssertionError(f"no convergence: {self.log[-6:]}")

    def _check(self, a: Action) -> None:
        m = self.mirror
        if isinstance(a, EDITS) and m.order_id is not None:
            assert m.status in (DIALECT.status_pending, DIALECT.status_open), f"{a} on a {m.status} order"
        if isinstance(a, UpdateLine) and a.qty is not None:
            line = next(h for h in m.lines if h.id == a.line_id)
            assert a.qty >= line.qty_invoiced, a
        if isinstance(a, DeleteLine):
            assert next(h for h in m.lines if h.id == a.line_id).qty_invoiced == 0
        if isinstance(a, CompleteInvoice):
            inv = next(i for i in m.invoices if i.id == a.invoice_id)
            for il in inv.lines:
                item = next(h.item_id for h in m.lines if h.id == il.order_line_id)
                self.on_hand[(item, inv.location_id)] -= il.qty
        if isinstance(a, CreateTicket):
            assert sum((ln.unit_price * ln.qty for ln in a.lines), a.tax) == a.payment, a
            self.tickets.append(a)
            if a.restock:
                for ln in a.lines:
                    if ln.item_id != ITEMS["REFUND"].id:
                        unit = (ln.item_id, STATION_LOC[a.station_id])
                        self.on_hand[unit] -= ln.qty
                        if ln.qty > 0:   # a sale takes stock at once; Heartland refuses to oversell
                            assert self.available.get(unit, 0) >= ln.qty, ("oversold", a)
                            self.available[unit] = self.available.get(unit, 0) - ln.qty


def parse(payload: dict[str, Any], *late_refunds: dict[str, Any]) -> ShopifyOrder:
    return ShopifyOrder.parse(payload, {str(r["id"]): r for r in late_refunds})


def net_money(hl: Heartland) -> Decimal:
    return hl.mirror.payments_total + sum((t.total for t in hl.mirror.tickets), D("0"))


def shopify_net(o: ShopifyOrder) -> Decimal:
    return sum((p.amount for p in o.payments), D("0")) - o.refunded


SPEC = OrderSpec(order_id=8001, number=3001, tax_rate=D("0.10"), shipping=D("5.00"),
                 lines=[LineSpec("MUG", 3, D("10.00")), LineSpec("TEE", 2, D("20.00"))])


def partially_invoiced() -> Heartland:
    """TEE in stock and invoiced; MUG out of stock everywhere, so it stays on the open order."""
    hl = Heartland({(502, EAST): 5})
    p = hl.deliver(parse(order_payload(SPEC)))
    assert p.state == "waiting_stock" and hl.mirror.status == "open"
    assert {(h.item_id, h.qty, h.qty_invoiced) for h in hl.mirror.lines} == {(501, 3, 0), (502, 2, 2)}
    return hl


def test_partially_invoiced_a_refund_of_uninvoiced_units_edits_the_order_and_makes_no_ticket():
    hl = partially_invoiced()
    r = refund_payload(SPEC, 9001, {"MUG": (1, "cancel")})
    o = parse(order_payload(SPEC, refunds=[r], quantities={"MUG": 2}))
    p = hl.deliver(o)
    assert p.state == "waiting_stock" and not hl.tickets
    assert [type(a) for a in hl.log[-3:]] == [UpdateLine, AddTax, AddPayment]
    assert hl.log[-1].amount == D("-11.00")
    assert hl.mirror.order_total == hl.mirror.payments_total == o.current_total_price
    assert net_money(hl) == shopify_net(o)


def test_partially_invoiced_a_refund_of_invoiced_units_becomes_a_return_ticket_for_them_only():
    hl = partially_invoiced()
    r = refund_payload(SPEC, 9001, {"TEE": (1, "return")})
    o = parse(order_payload(SPEC, refunds=[r], quantities={"TEE": 1}))
    p = hl.deliver(o)
    (t,) = hl.tickets
    assert t.public_id == "#3001-R1" and t.refund_id == 9001 and t.station_id == 100
    assert [(ln.item_id, ln.qty, ln.unit_price) for ln in t.lines] == [(502, -1, D("20.00"))]
    assert t.tax == D("-2.00") and t.payment == D("-22.00") and t.parent_invoice_id is not None
    # The invoiced unit stays on the order with its tax; the order still balances.
    assert hl.mirror.order_total == hl.mirror.payments_total == o.current_total_price + D("22.00")
    assert net_money(hl) == shopify_net(o) and p.state == "waiting_stock"
    assert hl.on_hand[(502, ONLINE)] == 1 and hl.on_hand[(502, EAST)] == -2


def test_partially_invoiced_a_reduction_beyond_the_uninvoiced_units_splits_order_edit_and_ticket():
    """MUG 3 uninvoiced, TEE 2 invoiced: refunding all MUGs and one TEE (shipping too) closes the
    order: its money is settled first, then the last uninvoiced line goes, then the ticket."""
    hl = partially_invoiced()
    r = refund_payload(SPEC, 9001, {"MUG": (3, "cancel"), "TEE": (1, "return")}, shipping=D("5.00"))
    o = parse(order_payload(SPEC, refunds=[r], quantities={"MUG": 0, "TEE": 1}))
    p = hl.deliver(o)
    kinds = [a.kind for a in hl.log[-5:]]
    removal = "delete_line" if DIALECT.line_delete_supported else "update_line"
    assert kinds == ["add_tax", "set_shipping", "add_payment", removal, "create_ticket"], kinds
    assert hl.mirror.status == "closed" and p.state == "invoiced"
    (t,) = hl.tickets
    assert t.payment == D("-22.00")
    assert net_money(hl) == shopify_net(o)
    again = Heartland(hl.available, mirror=hl.mirror)
    assert again.deliver(o).converged and not again.log


def test_partially_invoiced_cancellation_returns_the_invoiced_units_on_a_ticket():
    hl = partially_invoiced()
    r = refund_payload(SPEC, 9001, {"MUG": (3, "cancel"), "TEE": (2, "return")}, shipping=D("5.00"))
    o = parse(order_payload(SPEC, refunds=[r], cancelled=True, quantities={"MUG": 0, "TEE": 0}))
    p = hl.deliver(o)
    assert p.state == "cancelled" and hl.mirror.status == "closed"
    (t,) = hl.tickets
    assert [(ln.item_id, ln.qty) for ln in t.lines] == [(502, -2)] and t.payment == D("-44.00")
    assert net_money(hl) == shopify_net(o) == 0
    assert hl.on_hand[(502, ONLINE)] == 2


def test_a_cancellation_before_its_refund_arrives_does_not_close_the_order_unbalanced():
    hl = partially_invoiced()
    o = parse(order_payload(SPEC, cancelled=True, quantities={"MUG": 0, "TEE": 0}))
    p = hl.deliver(o)
    assert p.state == "pending" and hl.mirror.status == "open"
    assert "no refund" in p.reasons[0].message or "differ" in p.reasons[0].message
    r = refund_payload(SPEC, 9001, {"MUG": (3, "cancel"), "TEE": (2, "return")}, shipping=D("5.00"))
    p = hl.deliver(parse(order_payload(SPEC, cancelled=True, quantities={"MUG": 0, "TEE": 0}), r))
    assert p.state == "cancelled" and len(hl.tickets) == 1 and net_money(hl) == 0


def test_a_refund_delivered_before_its_order_update_ends_like_the_clean_delivery():
    r = refund_payload(SPEC, 9001, {"MUG": (2, "cancel"), "TEE": (1, "return")})
    final = order_payload(SPEC, refunds=[r], quantities={"MUG": 1, "TEE": 1}, updated_at=None)
    clean = partially_invoiced()
    clean.deliver(parse(final))
    late = partially_invoiced()
    late.deliver(parse(order_payload(SPEC), r))          # refunds/create first, stale snapshot
    late.deliver(parse(final))
    late.deliver(parse(final, r))                        # the refund delivered again changes nothing
    assert summary(late.mirror) == summary(clean.mirror)
    assert [t.refund_id for t in late.tickets] == [9001]


def test_a_refund_of_invoiced_units_before_its_order_update_leaves_the_open_order_balanced():
    """refunds/create of an invoiced TEE with only the older snapshot: the TEE's tax must not be counted
    twice (once in the snapshot's current_total_tax, once as the ticketed unit's tax)."""
    hl = partially_invoiced()
    r = refund_payload(SPEC, 9001, {"TEE": (1, "return")})
    early = parse(order_payload(SPEC), r)
    assert early.current_total_tax == D("5.00") and not early.refunds[0].in_snapshot
    p = hl.deliver(early)
    assert p.state == "waiting_stock" and [t.payment for t in hl.tickets] == [D("-22.00")]
    assert hl.mirror.order_total == hl.mirror.payments_total == D("82.00")
    assert net_money(hl) == shopify_net(early) == D("60.00")
    # The order update arrives late: the same state, nothing more to do.
    n = len(hl.log)
    assert hl.deliver(parse(order_payload(SPEC, refunds=[r], quantities={"TEE": 1}))).state == "waiting_stock"
    assert len(hl.log) == n


def test_a_refund_of_the_uninvoiced_units_before_its_order_update_removes_them_and_closes_balanced():
    """refunds/create of every uninvoiced MUG with the older snapshot: the payments go down and so must
    the order (line and tax), or Heartland holds neither Shopify state."""
    hl = partially_invoiced()
    r = refund_payload(SPEC, 9001, {"MUG": (3, "cancel")})
    early = parse(order_payload(SPEC), r)
    p = hl.deliver(early)
    assert p.state == "invoiced" and hl.mirror.status == "closed" and not hl.tickets
    assert [h.qty for h in hl.mirror.lines if h.item_id == 501] in ([], [0])
    assert hl.mirror.tax_total == D("4.00") and hl.mirror.payments_total == D("49.00")
    assert net_money(hl) == shopify_net(early) and _closed(hl.mirror) == hl.mirror.payments_total
    n = len(hl.log)
    hl.deliver(parse(order_payload(SPEC, refunds=[r], quantities={"MUG": 0})))
    assert len(hl.log) == n


def _closed(m: Mirror) -> Decimal:
    return sum((h.unit_price * h.qty_invoiced for h in m.lines), m.tax_total + m.shipping_charge)


BIGGER = replace(SPEC, lines=SPEC.lines + [LineSpec("CAP", 1, D("15.00"))])


def closed(available: dict[tuple[int, int], int]) -> Heartland:
    hl = Heartland({(501, EAST): 9, (502, EAST): 9, **available})
    hl.deliver(parse(order_payload(SPEC)))
    assert hl.mirror.status == "closed"
    return hl


def test_closed_order_exchange_tickets_the_return_and_sells_the_added_item_on_a_sale_ticket():
    hl = closed({(503, EAST): 0, (503, WEST): 4})
    r = refund_payload(BIGGER, 9001, {"TEE": (1, "return")})
    o = parse(order_payload(BIGGER, refunds=[r], quantities={"TEE": 1}))
    p = hl.deliver(o)
    assert p.state == "invoiced" and not p.reasons
    ret, sale = hl.tickets
    assert (ret.public_id, ret.refund_id, ret.payment) == ("#3001-R1", 9001, D("-22.00"))
    assert sale.public_id == "#3001-S1" and sale.refund_id is None and sale.station_id == 120
    assert [(ln.item_id, ln.qty, ln.unit_price, ln.description) for ln in sale.lines] == [
        (503, 1, D("15.00"), f"Sale {BIGGER.order_id * 100 + 3} of #3001")]
    assert sale.tax == D("1.50") and sale.payment == D("16.50") and sale.payment_type_id == 7
    assert sale.sold == ((BIGGER.order_id * 100 + 3, 1),) and sale.location_id == WEST
    # Both balance (checked by the fake), stock left the selling store, and the money is Shopify's net.
    assert hl.on_hand[(503, WEST)] == -1 and hl.available[(503, WEST)] == 3 and hl.on_hand[(502, ONLINE)] == 1
    assert net_money(hl) == shopify_net(o) == D("76.50")
    # Converged: re-planning, and the refund delivered again or late, make nothing new.
    n_log = len(hl.log)
    assert hl.deliver(o).converged and hl.deliver(parse(order_payload(BIGGER, refunds=[r], quantities={"TEE": 1}), r))
    assert len(hl.log) == n_log
    again = Heartland(dict(hl.available), mirror=Mirror.from_json(hl.mirror.to_json()))
    assert again.deliver(o).state == "invoiced" and not again.log


def test_an_exchange_delivered_out_of_order_ends_like_the_clean_delivery():
    r = refund_payload(BIGGER, 9001, {"TEE": (1, "return")})
    final = order_payload(BIGGER, refunds=[r], quantities={"TEE": 1})
    clean = closed({(503, EAST): 4})
    clean.deliver(parse(final))
    noisy = closed({(503, EAST): 4})
    noisy.deliver(parse(order_payload(BIGGER)))               # the addition first, no refund yet
    noisy.deliver(parse(order_payload(SPEC), r))              # then the refund with a stale snapshot
    noisy.deliver(parse(final, r))
    noisy.deliver(parse(final))
    assert summary(noisy.mirror)[:5] == summary(clean.mirror)[:5]
    assert sorted(summary(noisy.mirror)[5]) == sorted(summary(clean.mirror)[5])
    assert sorted(t.public_id for t in noisy.tickets) == ["#3001-R1", "#3001-S1"]
    assert net_money(noisy) == net_money(clean) == shopify_net(parse(final))


def test_added_units_are_split_over_the_stores_that_have_them_one_sale_ticket_each():
    three = replace(SPEC, lines=SPEC.lines + [LineSpec("CAP", 3, D("15.00"), discount=D("1.00"))])
    hl = closed({(503, EAST): 2, (503, WEST): 1})
    o = parse(order_payload(three))
    assert hl.deliver(o).state == "invoiced"
    s1, s2 = hl.tickets
    assert (s1.public_id, s1.station_id, s2.public_id, s2.station_id) == ("#3001-S1", 110, "#3001-S2", 120)
    # 3 × 15.00 less 1.00 = 2 × 14.67 + 1 × 14.66; tax 4.40 pro rata, summing to Shopify's.
    assert [(ln.qty, ln.unit_price) for t in (s1, s2) for ln in t.lines] == [(2, D("14.67")), (1, D("14.66"))]
    assert s1.tax + s2.tax == D("4.40")
    assert hl.available[(503, EAST)] == 0 and hl.available[(503, WEST)] == 0
    assert net_money(hl) == shopify_net(o)


def test_added_units_with_no_stock_anywhere_wait_for_staff():
    hl = closed({})
    o = parse(order_payload(BIGGER))
    p = hl.deliver(o)
    assert p.state == "pending" and [x.code for x in p.reasons] == ["addition_to_closed_order"]
    assert "CAP × 1" in p.reasons[0].message and not hl.tickets
    # Stock arrives: the next delivery sells them.
    hl.available[(503, EAST)] = 1
    assert hl.deliver(o).state == "invoiced" and [t.public_id for t in hl.tickets] == ["#3001-S1"]


def test_what_the_stores_cannot_place_waits_for_staff_after_the_rest_is_sold():
    three = replace(SPEC, lines=SPEC.lines + [LineSpec("CAP", 3, D("15.00"))])
    hl = closed({(503, EAST): 2})
    o = parse(order_payload(three))
    p = hl.deliver(o)      # the same stock read is used after the sale: the sold units aren't routed twice
    assert p.state == "pending" and "CAP × 1" in p.reasons[0].message
    (s1,) = hl.tickets
    assert [(ln.qty, ln.unit_price) for ln in s1.lines] == [(2, D("15.00"))] and s1.tax == D("3.00")
    assert hl.deliver(o).state == "pending" and len(hl.tickets) == 1


def test_a_refund_of_a_unit_sold_on_a_sale_ticket_returns_it():
    hl = closed({(503, EAST): 4})
    hl.deliver(parse(order_payload(BIGGER)))
    r = refund_payload(BIGGER, 9002, {"CAP": (1, "return")})
    o = parse(order_payload(BIGGER, refunds=[r], quantities={"CAP": 0}))
    assert hl.deliver(o).state == "invoiced"
    sale, ret = hl.tickets
    assert sale.public_id == "#3001-S1" and hl.on_hand[(503, EAST)] == -1
    assert ret.public_id == "#3001-R1" and [(ln.item_id, ln.qty) for ln in ret.lines] == [(503, -1)]
    assert ret.payment == D("-16.50") and hl.on_hand[(503, ONLINE)] == 1
    assert net_money(hl) == shopify_net(o)


def test_mirror_json_keeps_what_a_sale_ticket_sold():
    hl = closed({(503, EAST): 4})
    hl.deliver(parse(order_payload(BIGGER)))
    m = Mirror.from_json(hl.mirror.to_json())
    assert m == hl.mirror and m.sale_tickets[0].sold == ((BIGGER.order_id * 100 + 3, 1),)
    assert m.sold_for(BIGGER.order_id * 100 + 3) == 1


def test_a_closed_order_cancelled_with_its_refund_gets_one_full_return_ticket():
    hl = Heartland({(501, EAST): 9, (502, EAST): 9})
    hl.deliver(parse(order_payload(SPEC)))
    r = refund_payload(SPEC, 9001, {"MUG": (3, "cancel"), "TEE": (2, "cancel")}, shipping=D("5.00"))
    o = parse(order_payload(SPEC, refunds=[r], cancelled=True, quantities={"MUG": 0, "TEE": 0}))
    p = hl.deliver(o)
    assert p.state == "cancelled"
    (t,) = hl.tickets
    assert sorted((ln.item_id, ln.qty) for ln in t.lines) == [(501, -3), (502, -2), (901, -1)]
    assert t.payment == -o.refunds[0].amount and net_money(hl) == 0
    assert not hl.deliver(o).actions and len(hl.tickets) == 1


def test_a_late_older_refund_gets_the_next_ticket_number_not_a_reused_one():
    hl = Heartland({(501, EAST): 9, (502, EAST): 9})
    hl.deliver(parse(order_payload(SPEC)))
    from datetime import timedelta
    from mortard.testing.shopify import T0
    r1 = refund_payload(SPEC, 9001, {"MUG": (1, "return")}, created_at=T0 + timedelta(hours=1))
    r2 = refund_payload(SPEC, 9002, {"TEE": (1, "return")}, created_at=T0 + timedelta(hours=2))
    hl.deliver(parse(order_payload(SPEC, refunds=[r2], quantities={"TEE": 1})))
    hl.deliver(parse(order_payload(SPEC, refunds=[r1, r2], quantities={"TEE": 1, "MUG": 2})))
    assert [(t.public_id, t.refund_id) for t in hl.tickets] == [("#3001-R1", 9002), ("#3001-R2", 9001)]
    assert net_money(hl) == shopify_net(parse(order_payload(SPEC, refunds=[r1, r2])))


def summary(m: Mirror) -> tuple:
    lines = sorted((h.shopify_line_id, h.item_id, h.qty, h.qty_invoiced, h.location_id) for h in m.lines)
    return (m.status, tuple(lines), m.tax_total, m.shipping_charge, m.payments_total,
            tuple((t.public_id, t.refund_id, t.total) for t in m.tickets))


# -- random edit/refund sequences ------------------------------------------------------------------

SKUS = ["MUG", "TEE", "CAP"]


@st.composite
def sequences(draw: st.DrawFn):
    lines = [LineSpec(sku, draw(st.integers(1, 4)), D(draw(st.integers(1, 50)))) for sku in SKUS]
    sp = OrderSpec(order_id=8100, number=3100, lines=lines, tax_rate=draw(st.sampled_from([D("0"), D("0.10")])),
                   shipping=D(draw(st.integers(0, 9))))
    stocked = draw(st.sets(st.sampled_from(SKUS)))
    ops = draw(st.lists(st.one_of(
        st.tuples(st.just("refund"), st.sampled_from(SKUS), st.integers(1, 4),
                  st.sampled_from(["cancel", "return", "no_restock"]), st.booleans()),
        st.tuples(st.just("goodwill"), st.integers(1, 5)),
        st.tuples(st.just("stock"), st.sampled_from(SKUS)),
        st.tuples(st.just("cancel"))), max_size=5))
    order = st.sampled_from(["together", "refund_first", "snapshot_first", "twice"])
    # Sometimes the order reaches mortard only after its first changes (synced late, or refunded at once).
    late = draw(st.sampled_from([0, 0, 1, 2]))
    return sp, stocked, ops, [draw(order) for _ in ops], late


@settings(deadline=None, max_examples=examples(120), suppress_health_check=[HealthCheck.too_slow])
@given(case=sequences())
def test_random_edits_and_refunds_keep_heartland_money_and_stock_equal_to_shopify(case):
    check_sequence(case)


def _ones(stocked: set[str]) -> tuple:
    return OrderSpec(order_id=8100, number=3100, lines=[LineSpec(s, 1, D("1")) for s in SKUS], tax_rate=D("0")), stocked


@pytest.mark.parametrize("case", [
    # issue 12: the example first run on a fresh clone found (seed 29): Heartland kept 1.00 of Shopify's 0.00
    (*_ones({"MUG"}), [("stock", "CAP"), ("goodwill", 1), ("refund", "MUG", 1, "cancel", False),
                              ("refund", "TEE", 1, "cancel", False)], ["together"] * 4),
    # the same bug, as this hypothesis version shrinks seed 29
    (*_ones({"TEE", "CAP"}), [("goodwill", 1), ("refund", "MUG", 1, "cancel", False),
                              ("refund", "TEE", 1, "cancel", False)], ["together"] * 3),
], ids=["issue-12", "seed-29"])
def test_examples_the_property_found_stay_fixed(case):
    check_sequence(case)


def check_sequence(case) -> None:
    sp, stocked, ops, deliveries, late = (*case, 0) if len(case) == 4 else case
    ids = {sku: ITEMS[sku].id for sku in SKUS}
    hl = Heartland({(ids[s], EAST): 50 for s in stocked})
    # The same deliveries one planner step at a time: batching must change only the grouping.
    twin = Heartland(dict(hl.available), batched=False)

    started = late == 0

    def deliver(o: ShopifyOrder) -> Plan | None:
        if not started:
            return None      # Shopify changed the order before mortard heard of it
        p = hl.deliver(o)
        assert twin.deliver(o) == p and twin.log == hl.log and twin.mirror == hl.mirror
        # Whatever has arrived so far, Heartland is left matching the one Shopify state it describes
        # (a refund with an older snapshot: the state after the refund), never a mix of two.
        assert net_money(hl) == shopify_net(o), ("after a delivery", p, summary(hl.mirror))
        m = hl.mirror
        if m.status in ("open", "pending") and p.state != "pending":
            assert m.order_total == m.payments_total, ("unbalanced after a delivery", p, summary(m))
        return p
    refunds: list[dict[str, Any]] = []
    current = {ln.sku: ln.qty for ln in sp.lines}
    cancelled = False
    shipping_left = sp.shipping
    deliver(parse(order_payload(sp)))
    net = parse(order_payload(sp)).total_price     # Shopify never refunds more than it holds

    def capped(payload: dict[str, Any]) -> dict[str, Any]:
        nonlocal net
        (t,) = payload["transactions"]
        t["amount"] = str(min(D(t["amount"]), net))
        net -= D(t["amount"])
        return payload

    for n, (op, how) in enumerate(zip(ops, deliveries)):
        if cancelled:
            break
        started = started or n >= late
        before = order_payload(sp, refunds=list(refunds), quantities=dict(current))
        rid = 9500 + n
        from datetime import timedelta
        from mortard.testing.shopify import T0
        when = T0 + timedelta(hours=n + 1)
        if op[0] == "stock":
            for fake in (hl, twin):
                fake.available[(ids[op[1]], EAST)] = fake.available.get((ids[op[1]], EAST), 0) + 50
            deliver(parse(before))
            continue
        if op[0] == "refund":
            _, sku, k, kind, ship = op
            k = min(k, current[sku])
            if k == 0:
                continue
            ship_amt = shipping_left if ship else D("0")
            shipping_left -= ship_amt
            new = capped(refund_payload(sp, rid, {sku: (k, kind)}, shipping=ship_amt, created_at=when))
            current[sku] -= k
        elif op[0] == "goodwill":
            if net <= 0:
                continue
            new = capped(refund_payload(sp, rid, {}, amount=D(op[1]), created_at=when))
        else:
            new = refund_payload(sp, rid, {s: (q, "cancel") for s, q in current.items() if q},
                                 shipping=shipping_left, created_at=when, amount=net)
            net = D("0")
            current = {s: 0 for s in current}
            cancelled = True
        refunds.append(new)
        after = order_payload(sp, refunds=list(refunds), quantities=dict(current), cancelled=cancelled)
        if how == "refund_first":
            deliver(parse(before, new))
        elif how == "snapshot_first":
            deliver(parse(after))
        deliver(parse(after))
        if how == "twice":
            deliver(parse(after, new))
    final = parse(order_payload(sp, refunds=refunds, quantities=current, cancelled=cancelled))
    started = True
    p = deliver(final)
    assert p is not None
    n_log = len(hl.log)
    assert deliver(final) == p and len(hl.log) == n_log, "a converged order planned more"
    m = hl.mirror
    # No document twice: one ticket per refund at most, public ids unique.
    assert len({t.refund_id for t in m.tickets}) == len(m.tickets)
    assert len({t.public_id for t in m.tickets}) == len(m.tickets)
    # Money: what Heartland holds (order payments and tickets) is Shopify's net.
    assert net_money(hl) == shopify_net(final), (p, summary(m))
    if m.status in ("open", "pending") and p.state != "pending":
        assert m.order_total == m.payments_total
    if p.state == "pending":
        # Only money Shopify gave back beyond the goods (goodwill) keeps an order from balancing: on an
        # open order, or on one that reached Heartland after it and so was never opened.
        assert ([r.code for r in p.reasons], m.status) in ((["refund_on_open_order"], "open"),
                                                           (["total_mismatch"], "pending")), p
    # Stock: units that left Heartland = units sold (invoiced) the customer keeps, plus returned units
    # the refund said not to restock.
    for sku in SKUS:
        item = ids[sku]
        invoiced = sum(h.qty_invoiced for h in m.lines if h.item_id == item)
        moved = -sum(v for (i, _), v in hl.on_hand.items() if i == item)
        kept = min(invoiced, current[sku]) if not cancelled else 0
        no_restock = sum(rl["quantity"] for r in refunds for rl in r["refund_line_items"]
                         if rl["restock_type"] == "no_restock" and rl["line_item_id"] == sp.order_id * 100 + SKUS.index(sku) + 1)
        assert kept <= moved <= kept + no_restock, (sku, invoiced, moved, kept, no_restock)
        assert moved <= invoiced
