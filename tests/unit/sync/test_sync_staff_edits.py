"""What staff do to a pending order in Heartland, as the planner sees it once Heartland is re-read:
payments they added are Heartland's (never taken off, never booked twice), discounts count in the
order's total, and a custom field or address they filled there counts as filled."""
from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

from mortard.heartland_contract.dialect import DEFAULT_DIALECT as DIALECT
from mortard.sync.actions import AddPayment, LoadItems, LoadStock, FindCustomer, SetStatus
from mortard.sync.apply import apply_result
from mortard.sync.model import Catalog, HPayment, Item, Location, Mirror, ShopifyOrder
from mortard.sync.plan import PlanInput, plan
from mortard.sync.ports import JournalEntry, OrderReading, ReadLine
from mortard.sync.recovery import rebuild
from mortard.sync.settings import ShopSettings
from mortard.testing.shopify import LineSpec, OrderSpec, order_payload, refund_payload

D = Decimal
CATALOG = Catalog(locations={"ONLINE": Location(1, "ONLINE", "Web", 100), "EAST": Location(10, "EAST", "East", 110)},
                  payment_types={"Shopify": 7, "Cash": 9})
ITEMS = {"MUG": Item(501, "MUG", D("10.00")), "REFUND": Item(901, "REFUND", D("0.00"), track_inventory=False)}
SETTINGS = ShopSettings(location_priority=("EAST",))


def run(o: ShopifyOrder, m: Mirror = Mirror(), s: ShopSettings = SETTINGS, catalog: Catalog = CATALOG):
    """Plan to convergence as the machine does (staff payments as the mirror marks them)."""
    items = stock = None
    sent = []
    for _ in range(100):
        p = plan(PlanInput(o, m, s, catalog, DIALECT, items, stock, staff_payments=m.staff_payment_ids))
        if p.converged:
            return p, m, sent
        for a in p.actions:
            if isinstance(a, LoadItems):
                items = {k: ITEMS.get(k) for k in a.skus}
            elif isinstance(a, LoadStock):
                stock = {(501, 10): 50}
            elif isinstance(a, FindCustomer):
                m = replace(m, customer_searched=True)
            else:
                m = apply_result(m, a, 1000 + len(sent), DIALECT)
                sent.append(a)
    raise AssertionError("no convergence")


def unpaid(**kw) -> tuple[ShopifyOrder, Mirror]:
    o = ShopifyOrder.parse(order_payload(OrderSpec(6001, 6001, [LineSpec("MUG", 2, D("10.00"))], paid=False, **kw)))
    p, m, _ = run(o)
    assert p.state == "pending"
    return o, m


def test_a_payment_staff_added_balances_a_pending_order_and_is_neither_removed_nor_booked_again():
    o, m = unpaid()
    staff = HPayment(77, m.order_total, 9, by_staff=True)
    p, after, sent = run(o, replace(m, payments=m.payments + (staff,)))
    assert p.state == "invoiced" and [type(a) for a in sent][0] is SetStatus
    assert not [a for a in sent if isinstance(a, AddPayment)]
    assert after.payments == (staff,)
    # Shopify later records the same money as paid: it is not booked a second time.
    paid = ShopifyOrder.parse(order_payload(OrderSpec(6001, 6001, [LineSpec("MUG", 2, D("10.00"))])))
    assert paid.payments and sum(x.amount for x in paid.payments) == m.order_total
    inp = PlanInput(paid, replace(m, payments=(staff,), status="open"), SETTINGS, CATALOG, DIALECT, ITEMS,
                    {(501, 10): 50}, staff_payments=frozenset({77}))
    assert not [a for a in plan(inp).actions if isinstance(a, AddPayment)]


def test_without_the_staff_mark_the_same_payment_would_be_taken_off():
    """The input is what decides: the planner infers nothing about whose a payment is."""
    o, m = unpaid()
    stray = HPayment(77, m.order_total, 9)
    p = plan(PlanInput(o, replace(m, payments=(stray,)), SETTINGS, CATALOG, DIALECT, ITEMS, {(501, 10): 50}))
    assert [a.amount for a in p.actions if isinstance(a, AddPayment)] == [-m.order_total]


def test_a_shopify_refund_after_staff_took_the_money_is_still_booked():
    spec = OrderSpec(6002, 6002, [LineSpec("MUG", 2, D("10.00"))])
    s = replace(SETTINGS, auto_invoice=False)
    p, m, _ = run(ShopifyOrder.parse(order_payload(spec, )), s=s)
    assert p.state == "open" and len(m.payments) == 1
    # The money was taken by staff instead (cash), not by mortard's Shopify payment.
    m = replace(m, payments=(HPayment(77, m.payments[0].amount, 9, True),))
    refund = refund_payload(spec, 9002, {}, amount=D("5.00"))
    o = ShopifyOrder.parse(order_payload(spec, refunds=[refund]))
    p = plan(PlanInput(o, m, s, CATALOG, DIALECT, ITEMS, {(501, 10): 50}, staff_payments=frozenset({77})))
    assert [(a.amount, a.payment_type_id) for a in p.actions if isinstance(a, AddPayment)] == [(D("-5.00"), 7)]


def test_a_discount_in_heartland_counts_in_the_order_total():
    m = Mirror(lines=(), tax_total=D("1.00"), shipping_charge=D("4.00"), discount_total=D("5.00"))
    assert m.order_total == D("0.00")
    assert Mirror.from_json(m.to_json()) == m


def test_a_required_custom_field_or_an_address_filled_in_heartland_lets_the_order_open():
    catalog = replace(CATALOG, required_custom_fields=("gift_note",))
    s = replace(SETTINGS, custom_fields={"gift_note": "note:Gift note"})
    o = ShopifyOrder.parse(order_payload(OrderSpec(6003, 6003, [LineSpec("MUG", 1, D("10.00"))])))
    p, m, _ = run(o, s=s, catalog=catalog)
    assert [r.code for r in p.reasons] == ["required_custom_field"]
    p, _, sent = run(o, replace(m, custom=(("gift_note", "typed by staff"),)), s=s, catalog=catalog)
    assert p.state == "invoiced" and isinstance(sent[0], SetStatus)
    o, m = unpaid(addresses="none")
    o = ShopifyOrder.parse(order_payload(OrderSpec(6004, 6004, [LineSpec("MUG", 1, D("10.00"))], addresses="none")))
    p, m, _ = run(o)
    assert [r.code for r in p.reasons] == ["missing_addresses"]
    p, _, _ = run(o, replace(m, shipping_address_id=44))
    assert p.state == "invoiced"


def _reading(m: Mirror, payments: tuple[HPayment, ...]) -> OrderReading:
    lines = tuple(ReadLine(h.id, h.item_id, h.qty, h.unit_price, h.original_price, h.location_id) for h in m.lines)
    return OrderReading(m.order_id, m.status, m.customer_id, None, None, m.shipping_charge, lines, m.tax_total,
                        payments, (), ())


def test_recovery_tells_staff_payments_from_mortards_own_by_the_journal():
    o, m = unpaid()
    mine = HPayment(500, D("3.00"), 7)
    lost = HPayment(501, D("4.00"), 7)        # mortard's, its answer lost (journaled, no id)
    staff = HPayment(502, D("4.00"), 9)       # nobody journaled it
    journal = [JournalEntry(1, "add_payment", {"order_id": m.order_id, "amount": "4.00", "payment_type_id": 7}, "sent")]
    got = rebuild(_reading(m, (mine, lost, staff)), journal, replace(m, payments=(mine,)))
    assert [(p.id, p.by_staff) for p in got.mirror.payments] == [(500, False), (501, False), (502, True)]
    assert got.found == {1: 501}
    again = rebuild(_reading(m, (mine, lost, staff)), [], got.mirror)    # the mark is kept
    assert again.mirror.staff_payment_ids == frozenset({502})
