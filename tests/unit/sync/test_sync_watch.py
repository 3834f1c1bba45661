"""The watch's pure decisions: which waiting orders get the stock that arrived, and what staff changed."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import Decimal

from hypothesis import given, settings, strategies as st

from mortard.sync.model import HLine, HPayment, Mirror
from mortard.sync.watch import (
    OrderHeader, WaitingLine, WaitingOrder, call_budget, choose_replans, header_changes, items_of,
    line_changes, payment_changes, requests_for, staff_can_fix, waiting_lines,
)

T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)


def w(order_id: int, *lines: tuple[int, int], age: int | None = None, locations: tuple[int, ...] = ()) -> WaitingOrder:
    return WaitingOrder(("shop", order_id), T0 + timedelta(minutes=age if age is not None else order_id),
                        tuple(WaitingLine(i, q) for i, q in lines), locations)


def test_the_oldest_order_gets_the_stock_and_the_younger_keeps_waiting():
    choice = choose_replans([w(2, (10, 1)), w(1, (10, 1))], {(10, 5): 1})
    assert choice.replan == (("shop", 1),) and choice.still_waiting == (("shop", 2),)
    assert choice.routed[("shop", 1)] == ((10, 5, 1),)


def test_units_held_by_other_orders_are_not_handed_out():
    assert choose_replans([w(1, (10, 2))], {(10, 5): 3}, {(10, 5): 2}).replan == ()
    assert choose_replans([w(1, (10, 1))], {(10, 5): 3}, {(10, 5): 2}).replan == (("shop", 1),)


def test_a_line_moves_whole_to_one_location_as_the_planner_moves_it():
    # 2 + 2 units in two stores don't make one line of 3 routable.
    assert choose_replans([w(1, (10, 3))], {(10, 5): 2, (10, 6): 2}).replan == ()
    assert choose_replans([w(1, (10, 3))], {(10, 5): 2, (10, 6): 3}).routed[("shop", 1)] == ((10, 6, 3),)


def test_an_older_order_that_cannot_use_the_units_leaves_them_to_a_younger_one():
    choice = choose_replans([w(1, (10, 5)), w(2, (10, 2))], {(10, 5): 3})
    assert choice.replan == (("shop", 2),)


def test_an_order_with_some_lines_routable_is_replanned():
    choice = choose_replans([w(1, (10, 1), (11, 1))], {(10, 5): 1})
    assert choice.replan == (("shop", 1),) and choice.routed[("shop", 1)] == ((10, 5, 1),)


def test_the_orders_allowed_locations_are_respected_in_preference_order():
    assert choose_replans([w(1, (10, 1), locations=(7,))], {(10, 5): 4}).replan == ()
    choice = choose_replans([w(1, (10, 1), locations=(6, 5))], {(10, 5): 4, (10, 6): 1})
    assert choice.routed[("shop", 1)] == ((10, 6, 1),)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(1, 3), st.integers(1, 4), st.integers(0, 50)), min_size=1, max_size=12),
       st.dictionaries(st.tuples(st.integers(1, 3), st.integers(5, 7)), st.integers(-2, 6), max_size=9),
       st.dictionaries(st.tuples(st.integers(1, 3), st.integers(5, 7)), st.integers(0, 3), max_size=4))
def test_no_unit_is_handed_out_twice_and_no_older_routable_order_is_passed_over(orders, stock, held):
    waiting = [w(n, (item, qty), age=age) for n, (item, qty, age) in enumerate(orders)]
    choice = choose_replans(waiting, stock, held)
    used: dict[tuple[int, int], int] = {}
    for routed in choice.routed.values():
        for item, loc, qty in routed:
            used[(item, loc)] = used.get((item, loc), 0) + qty
    for unit, qty in used.items():
        assert qty <= stock.get(unit, 0) - held.get(unit, 0)
    # Every order left waiting really had no location with enough left when its turn came:
    # replaying the choice in age order, nothing older is skipped while units for it remained.
    left = {u: q - held.get(u, 0) for u, q in stock.items()}
    for o in sorted(waiting, key=lambda o: (o.since, o.key)):
        (ln,) = o.lines
        fits = any(q >= ln.qty for (i, _), q in left.items() if i == ln.item_id)
        assert fits == (o.key in choice.replan)
        for item, loc, qty in choice.routed.get(o.key, ()):
            left[(item, loc)] -= qty


def test_waiting_lines_are_the_undistributed_uninvoiced_ones_grouped_as_the_planner_moves_them():
    m = Mirror(order_id=1, status="open", lines=(
        HLine(1, 100, 10, 2, Decimal("5"), Decimal("5"), None),
        HLine(2, 100, 10, 1, Decimal("4"), Decimal("5"), None),
        HLine(3, 101, 11, 1, Decimal("5"), Decimal("5"), 5),
        HLine(4, 102, 12, 1, Decimal("5"), Decimal("5"), None, qty_invoiced=1)))
    assert waiting_lines(m) == (WaitingLine(10, 2), WaitingLine(10, 1))
    assert waiting_lines(m, allow_split=False) == (WaitingLine(10, 3),)
    assert items_of([w(1, (11, 1), (10, 1)), w(2, (10, 2))]) == (10, 11)


def test_the_budget_is_the_share_of_the_rate_per_interval_with_a_floor():
    assert call_budget(0.1, 5.0, 60.0) == 30
    assert call_budget(0.01, 5.0, 10.0) == 2
    assert requests_for(0) == 0 and requests_for(100) == 1 and requests_for(101) == 2


MIRROR = Mirror(order_id=9, status="pending", billing_address_id=None, shipping_address_id=None,
                lines=(HLine(1, 100, 10, 2, Decimal("5.00"), Decimal("5.00"), 5),),
                tax_total=Decimal("1.00"), payments=(HPayment(3, Decimal("11.00"), 1),))


def header(**kw) -> OrderHeader:
    base = dict(order_id=9, status="pending", total=Decimal("11.00"), billing_address_id=None,
                shipping_address_id=None, custom={"shopify_order_id": "1"})
    return OrderHeader(**{**base, **kw})


def test_an_unchanged_header_shows_no_changes():
    assert header_changes(MIRROR, header(), {"shopify_order_id": "1"}) == {}


def test_header_changes_name_status_total_addresses_and_filled_custom_fields():
    got = header_changes(MIRROR, header(status="open", total=Decimal("16.00"), billing_address_id=4,
                                        custom={"shopify_order_id": "1", "gift_note": "hi"}), {"shopify_order_id": "1"})
    assert got == {"status": ["pending", "open"], "total": ["11.00", "16.00"], "billing_address_id": [None, 4],
                   "custom": {"gift_note": "hi"}}


def test_line_and_payment_changes():
    assert line_changes(MIRROR.lines, [(1, 10, 2, 5)]) == []
    assert line_changes(MIRROR.lines, [(1, 10, 3, 5), (2, 11, 1, None)]) == [
        {"line": 1, "was": {"qty": 2, "location_id": 5}, "now": {"qty": 3, "location_id": 5}},
        {"line": 2, "added": {"item_id": 11, "qty": 1, "location_id": None}}]
    assert line_changes(MIRROR.lines, []) == [{"line": 1, "removed": {"item_id": 10, "qty": 2}}]
    assert payment_changes(MIRROR.payments, [HPayment(3, Decimal("11.00"), 1), HPayment(4, Decimal("-2.00"), 1)]) == [
        {"payment": 4, "added": "-2.00"}]


def test_only_pending_orders_staff_can_fix_in_heartland_are_watched():
    assert staff_can_fix(("required_custom_field",)) and staff_can_fix(("total_mismatch", "missing_addresses"))
    assert not staff_can_fix(("unknown_item", "total_mismatch")) and not staff_can_fix(("foreign_currency_money",))
    assert not staff_can_fix(())
