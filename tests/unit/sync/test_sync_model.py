"""Parsing Shopify order snapshots into `ShopifyOrder`, refusing malformed ones, and the Mirror's JSON."""
from __future__ import annotations

import copy
import json
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mortard.testing.shopify import LineSpec, OrderSpec, order_payload, refund_payload
from mortard.sync.model import (
    HInvoice, HInvoiceLine, HLine, HPayment, HTicket, InvalidOrder, Mirror, Refund, ShopifyOrder,
)
from properties import examples

D = Decimal


def spec(**kw: Any) -> OrderSpec:
    base: dict[str, Any] = dict(order_id=5001, number=1001, lines=[
        LineSpec("MUG-BLU", 3, D("10.00"), D("1.00"), "Blue mug"),
        LineSpec("TEE-M", 1, D("24.50")),
    ], shipping=D("6.95"))
    base.update(kw)
    return OrderSpec(**base)


# -- realistic payloads ---------------------------------------------------------------------------

def test_a_paid_order_parses_to_typed_lines_money_customer_and_addresses():
    o = ShopifyOrder.parse(order_payload(spec()))
    assert (o.id, o.name, o.currency, o.test, o.cancelled) == (5001, "#1001", "USD", False, False)
    assert [(ln.id, ln.sku, ln.quantity, ln.current_quantity, ln.price, ln.discount) for ln in o.lines] == [
        (500101, "MUG-BLU", 3, 3, D("10.00"), D("1.00")),
        (500102, "TEE-M", 1, 1, D("24.50"), D("0.00")),
    ]
    assert [ln.tax for ln in o.lines] == [D("2.32"), D("1.96")]
    assert o.shipping == D("6.95")
    assert o.current_total_tax == D("4.28")
    assert o.total_price == o.current_total_price == D("29.00") + D("24.50") + D("4.28") + D("6.95")
    assert [(p.gateway, p.amount) for p in o.payments] == [("shopify_payments", o.total_price)]
    assert o.customer.email == "pat.buyer@example.com"
    assert o.billing_address is not None and o.billing_address == o.shipping_address
    assert (o.billing_address.city, o.billing_address.state, o.billing_address.country) == ("Springfield", "IL", "US")
    assert o.updated_at is not None and o.updated_at.tzinfo is not None
    assert o.refunds == ()


def test_an_unpaid_order_has_no_payments():
    assert ShopifyOrder.parse(order_payload(spec(paid=False))).payments == ()


def test_tags_and_note_attributes_are_parsed():
    o = ShopifyOrder.parse(order_payload(spec(tags=["wholesale", " vip "], note_attributes={"Gift note": "hi"})))
    assert o.tags == ("wholesale", "vip")
    assert o.note_attributes == {"Gift note": "hi"}


def test_a_cancelled_test_order_says_so():
    o = ShopifyOrder.parse(order_payload(spec(test=True), cancelled=True))
    assert o.test and o.cancelled


@pytest.mark.parametrize(("addresses", "billing", "shipping"), [
    ("both", True, True), ("billing", True, False), ("shipping", False, True), ("none", False, False)])
def test_missing_addresses_parse_to_none(addresses, billing, shipping):
    o = ShopifyOrder.parse(order_payload(spec(addresses=addresses)))
    assert (o.billing_address is not None, o.shipping_address is not None) == (billing, shipping)


def test_a_refund_in_the_snapshot_reduces_current_quantity_and_records_money_and_restock_type():
    s = spec()
    r = refund_payload(s, 9001, {"MUG-BLU": (1, "return")}, shipping=D("6.95"))
    snap = order_payload(s, refunds=[r])
    for li in snap["line_items"]:
        li.pop("current_quantity")  # older payloads: derived from the refunds
    o = ShopifyOrder.parse(snap)
    assert [ln.current_quantity for ln in o.lines] == [2, 1]
    (refund,) = o.refunds
    assert refund.id == 9001 and refund.gateway == "shopify_payments"
    assert refund.lines[0].restock_type == "return" and refund.lines[0].quantity == 1
    assert refund.shipping == D("6.95")
    assert refund.amount == refund.lines[0].subtotal + refund.lines[0].tax + D("6.95")
    assert o.refunded == refund.amount


def test_refunds_merged_from_their_own_events_replace_the_snapshot_copy_and_sort_oldest_first():
    s = spec()
    later = refund_payload(s, 9002, {"TEE-M": (1, "no_restock")}, created_at=datetime(2026, 12, 2, tzinfo=timezone.utc))
    early = refund_payload(s, 9001, {"MUG-BLU": (1, "return")}, created_at=datetime(2026, 12, 1, tzinfo=timezone.utc))
    stale = copy.deepcopy(early)
    stale["transactions"][0]["amount"] = "0.01"
    o = ShopifyOrder.parse(order_payload(s, refunds=[stale]), refunds={"9002": later, "9001": early})
    assert [r.id for r in o.refunds] == [9001, 9002]
    assert o.refunds[0].amount != D("0.01")


def test_transactions_when_given_decide_the_payments_by_gateway():
    txs = {
        "1": {"kind": "sale", "status": "success", "amount": "10.00", "gateway": "gift_card"},
        "2": {"kind": "capture", "status": "success", "amount": "20.50", "gateway": "shopify_payments"},
        "3": {"kind": "sale", "status": "failure", "amount": "99.00", "gateway": "shopify_payments"},
        "4": {"kind": "authorization", "status": "success", "amount": "20.50", "gateway": "shopify_payments"},
    }
    o = ShopifyOrder.parse(order_payload(spec()), transactions=txs)
    assert [(p.gateway, p.amount) for p in o.payments] == [("gift_card", D("10.00")),
                                                           ("shopify_payments", D("20.50"))]


def test_a_partially_paid_order_records_what_was_received():
    snap = order_payload(spec())
    snap["financial_status"] = "partially_paid"
    snap["total_outstanding"] = "10.00"
    o = ShopifyOrder.parse(snap)
    assert o.payments[0].amount == o.total_price - D("10.00")


def test_an_order_without_a_name_is_named_from_its_number():
    snap = order_payload(spec())
    del snap["name"]
    assert ShopifyOrder.parse(snap).name == "#1001"


# -- malformed payloads ---------------------------------------------------------------------------

def _set(path: list[Any], value: Any):
    def mutate(snap: dict[str, Any]) -> None:
        target = snap
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value
    return mutate


def _delete(path: list[Any]):
    def mutate(snap: dict[str, Any]) -> None:
        target = snap
        for key in path[:-1]:
            target = target[key]
        del target[path[-1]]
    return mutate


@pytest.mark.parametrize(("mutate", "message"), [
    (_delete(["id"]), "positive integer id"),
    (_set(["id"], "5001"), "positive integer id"),
    (_set(["id"], True), "positive integer id"),
    (_set(["id"], -5), "positive integer id"),
    (_set(["name"], "#" + "9" * 80), "at most 64"),
    (_set(["line_items"], []), "no line items"),
    (_set(["line_items"], {"a": 1}), "line_items must be a list"),
    (_set(["line_items", 0], "MUG"), "line item 0 is not an object"),
    (_set(["line_items", 1, "id"], 500101), "same id"),
    (_set(["line_items", 0, "id"], None), "line item 0 has no positive integer id"),
    (_set(["line_items", 0, "quantity"], -1), "quantity -1"),
    (_set(["line_items", 0, "quantity"], 0), "quantity 0"),
    (_set(["line_items", 0, "quantity"], 10 ** 9), "quantity 1000000000"),
    (_set(["line_items", 0, "quantity"], "3"), "quantity '3'"),
    (_set(["line_items", 0, "quantity"], 2.0), "quantity 2.0"),
    (_set(["line_items", 0, "current_quantity"], 4), "current_quantity 4"),
    (_set(["line_items", 0, "price"], "-1.00"), "negative price"),
    (_set(["line_items", 0, "price"], "ten"), "price is not an amount"),
    (_set(["line_items", 0, "price"], "NaN"), "price is not an amount"),
    (_set(["line_items", 0, "price"], "1e30"), "price is not an amount"),
    (_set(["line_items", 0, "price"], "1e13"), "price is out of range"),
    (_set(["line_items", 0, "price"], [1]), "price must be an amount"),
    (_set(["line_items", 0, "price"], True), "price must be an amount"),
    (_delete(["line_items", 0, "price"]), "price is missing"),
    (_set(["line_items", 0, "discount_allocations"], [{"amount": "31.00"}]), "discounts of 31.00"),
    (_set(["line_items", 0, "discount_allocations"], [{"amount": "-1.00"}]), "discounts of -1.00"),
    (_set(["line_items", 0, "tax_lines"], "2.32"), "tax_lines must be a list"),
    (_set(["line_items", 0, "sku"], 12345), "invalid sku"),
    (_set(["line_items", 0, "sku"], "X" * 300), "invalid sku"),
    (_set(["total_price"], None), "total_price is missing"),
    (_set(["total_price"], {"amount": "1"}), "total_price must be an amount"),
    (_set(["refunds"], [{"id": "r1"}]), "refund has no positive integer id"),
    (_set(["refunds"], [{"id": 1, "refund_line_items": [{"line_item_id": 500101, "quantity": -1}]}]),
     "quantity -1"),
    (_set(["refunds"], [{"id": 1, "refund_line_items": [{"quantity": 1}]}]), "no line_item_id"),
    (_set(["refunds"], [{"id": 1, "refund_line_items": ["x"]}]), "not an object"),
    (_set(["refunds"], [{"id": 1, "refund_line_items": [{"line_item_id": 42, "quantity": 1}]}]),
     "line item 42, which is not on the order"),
    (_set(["refunds"], [{"id": 1, "transactions": [{"kind": "refund", "amount": "-5.00"}]}]), "negative amount"),
    (_set(["note_attributes"], "gift"), "note_attributes must be a list"),
    (_set(["current_shipping_price_set"], {"shop_money": {"amount": "free"}}), "amount is not an amount"),
], ids=lambda v: v if isinstance(v, str) else None)
def test_a_malformed_payload_raises_invalid_order_saying_what_is_wrong(mutate, message):
    snap = order_payload(spec())
    mutate(snap)
    with pytest.raises(InvalidOrder) as exc:
        ShopifyOrder.parse(snap)
    assert message in str(exc.value)


@pytest.mark.parametrize("snapshot", [None, [], "order", 42])
def test_a_payload_that_is_not_an_object_raises_invalid_order(snapshot):
    with pytest.raises(InvalidOrder, match="not an object"):
        ShopifyOrder.parse(snapshot)  # type: ignore[arg-type]


@pytest.mark.parametrize("when", ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00"])
def test_a_timestamp_at_the_edge_of_the_calendar_does_not_crash_the_parser(when):
    snap = order_payload(spec())
    snap["updated_at"] = when
    snap["refunds"] = [dict(refund_payload(spec(), 9001, {"TEE-M": (1, "return")}), created_at=when)]
    o = ShopifyOrder.parse(snap)
    assert o.updated_at is None
    assert o.refunds[0].created_at is None


# Random JSON-ish junk, and mutations of a valid payload that put it in random places.
_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(10 ** 40), max_value=10 ** 40),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=12),
    st.sampled_from(["", "0", "-1", "1e400", "NaN", "Infinity", "-0.00", "12.345", "2026-13-45",
                     "0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-12:00", "#1001", "return", "refund",
                     "success", "shipping_refund", "paid", "partially_paid"]),
)
_junk = st.recursive(_scalars, lambda children: st.one_of(
    st.lists(children, max_size=3), st.dictionaries(st.text(max_size=6), children, max_size=3)), max_leaves=8)


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix] if prefix else []
    if isinstance(value, dict):
        for k, v in value.items():
            out += _paths(v, prefix + (k,))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out += _paths(v, prefix + (i,))
    return out


_BASE_SPEC = spec()
_BASE = order_payload(_BASE_SPEC, refunds=[refund_payload(_BASE_SPEC, 9001, {"MUG-BLU": (1, "return")},
                                                            shipping=D("1.00"))])
_BASE_PATHS = _paths(_BASE)
_FIELD_NAMES = sorted({p[-1] for p in _BASE_PATHS if isinstance(p[-1], str)})


@st.composite
def mutated_payloads(draw: st.DrawFn) -> dict[str, Any]:
    snap = copy.deepcopy(_BASE)
    for _ in range(draw(st.integers(min_value=1, max_value=4))):
        path = draw(st.sampled_from(_paths(snap) or [("id",)]))
        parent: Any = snap
        try:
            for key in path[:-1]:
                parent = parent[key]
            last = path[-1]
            parent[last]
        except (KeyError, IndexError, TypeError):
            continue  # an earlier mutation replaced part of this path
        op = draw(st.sampled_from(["junk", "delete", "negate", "huge", "stringify", "add_field", "wrap"]))
        old = parent[last]
        if op == "junk":
            parent[last] = draw(_junk)
        elif op == "delete":
            if isinstance(parent, dict):
                del parent[last]
            else:
                parent.pop(last)
        elif op == "negate" and isinstance(old, (int, float)) and not isinstance(old, bool):
            parent[last] = -old
        elif op == "negate" and isinstance(old, str):
            parent[last] = "-" + old
        elif op == "huge":
            parent[last] = draw(st.sampled_from([10 ** 30, -(10 ** 30), "9" * 40, 1e308, 2 ** 63, "1e12"]))
        elif op == "stringify":
            parent[last] = json.dumps(old)
        elif op == "add_field" and isinstance(old, dict):
            old[draw(st.sampled_from(_FIELD_NAMES))] = draw(_junk)
        elif op == "wrap":
            parent[last] = draw(st.sampled_from([[old], {"value": old}]))
    return snap


@settings(max_examples=examples(400), suppress_health_check=[HealthCheck.too_slow])
@given(snap=mutated_payloads())
def test_a_mutated_payload_either_parses_or_raises_invalid_order_and_nothing_else(snap):
    try:
        o = ShopifyOrder.parse(snap)
    except InvalidOrder as exc:
        assert str(exc)
        return
    assert o.lines and all(0 <= ln.current_quantity <= ln.quantity for ln in o.lines)
    assert all(ln.price >= 0 and 0 <= ln.discount <= ln.price * ln.quantity for ln in o.lines)


@settings(max_examples=examples(200))
@given(snap=_junk, refunds=st.one_of(st.none(), st.dictionaries(st.text(max_size=4), _junk, max_size=2)),
       transactions=st.one_of(st.none(), st.dictionaries(st.text(max_size=4), _junk, max_size=2)))
def test_arbitrary_junk_raises_invalid_order_and_nothing_else(snap, refunds, transactions):
    try:
        ShopifyOrder.parse(snap, refunds, transactions)
    except InvalidOrder:
        pass


@settings(max_examples=examples(200))
@given(refund=_junk, transaction=_junk)
def test_junk_refund_and_transaction_events_raise_invalid_order_and_nothing_else(refund, transaction):
    try:
        ShopifyOrder.parse(copy.deepcopy(_BASE), {"9001": refund}, {"1": transaction})
    except InvalidOrder:
        pass


# -- Mirror ---------------------------------------------------------------------------------------

def test_an_empty_mirror_round_trips_through_json():
    assert Mirror.from_json(Mirror().to_json()) == Mirror()
    assert Mirror.from_json(None) == Mirror()
    assert Mirror.from_json({}) == Mirror()


def test_a_full_mirror_round_trips_through_json_text():
    m = Mirror(
        customer_searched=True, customer_id=7, billing_address_id=8, shipping_address_id=9, order_id=10,
        status="closed",
        lines=(HLine(11, 500101, 3, 2, D("9.67"), D("10.00"), 100, 2), HLine(12, 500101, 3, 1, D("9.66"), D("10.00"))),
        tax_total=D("4.28"), shipping_charge=D("6.95"),
        payments=(HPayment(13, D("64.73"), 1), HPayment(14, D("-10.00"), 2)),
        invoices=(HInvoice(15, 100, (HInvoiceLine(16, 11, 2),), True), HInvoice(17, 101)),
        tickets=(HTicket(18, "#1001-R1", 9001, D("-10.80")), HTicket(19, "#1001-R2", None, D("0.00"))),
    )
    data = json.loads(json.dumps(m.to_json()))
    back = Mirror.from_json(data)
    assert back == m
    assert back.order_total == m.order_total and back.payments_total == D("54.73")
    assert all(isinstance(ln.unit_price, Decimal) for ln in back.lines)


def test_evolve_copies_a_value_with_changes_as_dataclasses_replace_does():
    from dataclasses import dataclass, field, replace

    from mortard.sync.model import evolve
    m = Mirror(customer_id=7, order_id=10, status="pending", lines=(HLine(11, 500101, 3, 2, D("9.67"), D("10.00")),))
    for changes in ({}, {"status": "open"}, {"order_id": 11, "lines": ()}, {"customer_id": None, "status": "closed"}):
        assert evolve(m, **changes) == replace(m, **changes)
    assert evolve(m, status="open").lines is m.lines   # a copy, not a deep copy
    with pytest.raises(KeyError):
        evolve(m, no_such_field=1)

    @dataclass(frozen=True)
    class Keywords:
        a: int
        b: int = field(default=0, kw_only=True)

    with pytest.raises(TypeError):   # fields it can't pass by position are refused, not misplaced
        evolve(Keywords(1, b=2), a=3)


# -- shop money, shipping refunds, currencies, refunds newer than the snapshot ----------------------

def _bag(shop: str, presentment: str, shop_cur: str = "USD", pres_cur: str = "EUR") -> dict[str, Any]:
    return {"shop_money": {"amount": shop, "currency_code": shop_cur},
            "presentment_money": {"amount": presentment, "currency_code": pres_cur}}


def test_amounts_come_from_shop_money_when_shopify_sends_a_set():
    snap = order_payload(spec())
    snap["presentment_currency"] = "EUR"
    li = snap["line_items"][0]
    li["price_set"] = _bag("10.00", "9.20")
    li["price"] = "9.20"           # a plain field that disagrees: the shop-money bag wins
    li["discount_allocations"][0]["amount_set"] = _bag("1.00", "0.92")
    li["tax_lines"][0]["price_set"] = _bag("2.32", "2.13")
    snap["total_price_set"] = _bag(snap["total_price"], "1.00")
    snap["current_total_tax_set"] = _bag(snap["current_total_tax"], "1.00")
    o = ShopifyOrder.parse(snap)
    assert (o.lines[0].price, o.lines[0].discount, o.lines[0].tax) == (D("10.00"), D("1.00"), D("2.32"))
    assert o.total_price == D(snap["total_price"]) and o.current_total_tax == D("4.28")
    assert o.presentment_currency == "EUR" and o.money_problems == ()


def test_a_set_whose_shop_money_is_in_another_currency_is_refused():
    snap = order_payload(spec())
    snap["line_items"][0]["price_set"] = _bag("10.00", "10.00", shop_cur="EUR")
    with pytest.raises(InvalidOrder, match="price_set.shop_money is in EUR, not the shop's USD"):
        ShopifyOrder.parse(snap)


def test_shipping_refunded_only_in_refund_shipping_lines_counts_with_its_tax():
    s = spec()
    r = refund_payload(s, 9001, {}, amount=D("7.51"))
    r["refund_shipping_lines"] = [{"id": 1, "shipping_line_id": 5001, "subtotal_amount_set": _bag("6.95", "6.40"),
                                   "shipping_line": {"id": 5001, "price": "6.95", "discounted_price": "6.95",
                                                     "tax_lines": [{"price": "0.56", "price_set": _bag("0.56", "0.52")}]}}]
    (refund,) = ShopifyOrder.parse(order_payload(s, refunds=[r])).refunds
    assert (refund.shipping, refund.shipping_tax, refund.tax) == (D("6.95"), D("0.56"), D("0.56"))


def test_a_partial_shipping_refund_gives_back_its_share_of_the_shipping_tax():
    s = spec()
    r = refund_payload(s, 9001, {}, amount=D("2.16"))
    r["refund_shipping_lines"] = [{"id": 1, "subtotal_amount_set": _bag("2.00", "2.00"),
                                   "shipping_line": {"price": "6.95", "discounted_price": "6.95",
                                                     "tax_lines": [{"price": "0.56"}]}}]
    assert ShopifyOrder.parse(order_payload(s, refunds=[r])).refunds[0].shipping_tax == D("0.16")


def test_shipping_in_both_refund_shipping_lines_and_an_adjustment_counts_once_and_takes_the_adjustments_tax():
    s = spec()
    r = refund_payload(s, 9001, {}, shipping=D("6.95"))
    r["order_adjustments"][0]["tax_amount"] = "-0.56"
    r["refund_shipping_lines"] = [{"id": 1, "subtotal_amount_set": _bag("6.95", "6.95"),
                                   "shipping_line": {"price": "6.95", "tax_lines": []}}]
    (refund,) = ShopifyOrder.parse(order_payload(s, refunds=[r])).refunds
    assert (refund.shipping, refund.shipping_tax, refund.discrepancy) == (D("6.95"), D("0.56"), D("0.00"))


def test_a_refund_shipping_line_without_its_subtotal_amount_set_is_refused():
    s = spec()
    r = refund_payload(s, 9001, {})
    r["refund_shipping_lines"] = [{"id": 1, "subtotal_amount": "6.95"}]
    with pytest.raises(InvalidOrder, match="without subtotal_amount_set"):
        ShopifyOrder.parse(order_payload(s, refunds=[r]))


def test_a_refund_paid_in_the_buyers_currency_is_not_added_to_shop_money_and_says_why():
    s = spec()
    r = refund_payload(s, 9001, {"TEE-M": (1, "return")})
    r["transactions"][0]["currency"] = "EUR"
    o = ShopifyOrder.parse(order_payload(s, refunds=[r]))
    assert o.refunds[0].amount == 0 and o.refunded == 0
    (problem,) = o.money_problems
    assert "refund 9001 paid back" in problem and "EUR" in problem and "no USD amount" in problem


@pytest.mark.parametrize(("status", "problem"), [("paid", False), ("partially_paid", True)])
def test_payments_in_the_buyers_currency_fall_back_to_shop_money_only_when_the_order_is_paid(status, problem):
    snap = order_payload(spec())
    snap["financial_status"] = status
    snap["presentment_currency"] = "EUR"
    txs = {"1": {"kind": "sale", "status": "success", "amount": "50.00", "currency": "EUR", "gateway": "shopify_payments"}}
    o = ShopifyOrder.parse(snap, transactions=txs)
    assert bool(o.money_problems) == problem
    if not problem:
        assert [(p.gateway, p.amount) for p in o.payments] == [("shopify_payments", o.total_price)]


def test_a_refund_newer_than_the_snapshot_is_taken_out_of_its_current_figures():
    s = spec()
    r = refund_payload(s, 9001, {"MUG-BLU": (1, "return")}, shipping=D("6.95"))
    stale = ShopifyOrder.parse(order_payload(s), {"9001": r})
    fresh = ShopifyOrder.parse(order_payload(s, refunds=[r], quantities={"MUG-BLU": 2}))
    assert not stale.refunds[0].in_snapshot and fresh.refunds[0].in_snapshot
    assert stale.current_total_tax == fresh.current_total_tax == D("4.28") - stale.refunds[0].lines[0].tax
    assert [ln.current_quantity for ln in stale.lines] == [ln.current_quantity for ln in fresh.lines] == [2, 1]
    assert stale.current_total_price == D(order_payload(s)["current_total_price"]) - stale.refunds[0].amount


def test_refund_parse_reads_a_refunds_create_payload_on_its_own():
    r = refund_payload(spec(), 9001, {"TEE-M": (1, "no_restock")})
    refund, problems = Refund.parse(r, "USD")
    assert refund.id == 9001 and refund.amount == D("26.46") and problems == ()
    assert Refund.parse(r, "CAD")[1] and Refund.parse(r, "CAD")[0].amount == 0
