"""The reliability checker itself: it must tell a second bill for the same goods from a later,
rightful invoice at the same location (a false alarm here once failed a kill -9 run)."""
from __future__ import annotations

from reliability_helpers import check_heartland, invoices_charging_again


def _state(*invoices: dict) -> dict:
    order = {"id": 3, "public_id": "#3059", "lines": [
        {"id": 88, "item_id": 2, "qty": 2, "qty_invoiced": 2},
        {"id": 101, "item_id": 5, "qty": 1, "qty_invoiced": 1},
        {"id": 90, "item_id": 9, "qty": 1, "qty_invoiced": 1},
        {"id": 102, "item_id": 9, "qty": 1, "qty_invoiced": 0}]}
    return {"orders": [order], "inventory": [], "invoices": list(invoices)}


def _invoice(ident: int, location: int, *lines: tuple[int | None, int, int], status: str = "complete") -> dict:
    return {"id": ident, "order_id": 3, "source_location_id": location, "status": status,
            "lines": [{"order_line_id": ol, "item_id": item, "qty": qty} for ol, item, qty in lines]}


def test_a_line_routed_later_to_the_same_location_is_not_a_duplicate():
    # Seen after kill -9: item 5 got stock at location 3 only on the re-plan after the crash.
    state = _state(_invoice(35, 3, (88, 2, 2)), _invoice(51, 3, (101, 5, 1)), _invoice(59, 4, (90, 9, 1)))
    assert invoices_charging_again(state) == []
    assert check_heartland(state, {"#3059"})["duplicate_invoices"] == 0


def test_the_same_goods_billed_twice_are_a_duplicate():
    state = _state(_invoice(35, 3, (88, 2, 2)), _invoice(36, 3, (88, 2, 2)))
    assert invoices_charging_again(state) == [36]
    assert check_heartland(state, {"#3059"})["duplicate_invoices"] == 1


def test_units_past_the_order_billed_without_a_line_named_are_a_duplicate():
    # An invoice line matched by item only: two units of item 9 are on the order, three billed.
    state = _state(_invoice(59, 4, (None, 9, 2)), _invoice(60, 4, (None, 9, 1)))
    assert invoices_charging_again(state) == [60]


def test_a_draft_invoice_bills_nothing():
    state = _state(_invoice(35, 3, (88, 2, 2)), _invoice(36, 3, (88, 2, 2), status="draft"))
    assert invoices_charging_again(state) == []
