"""Money: per-unit discount spreading, proportional allocation and amount parsing, all to the cent."""
from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mortard.sync.money import CENT, PriceGroup, allocate, take_units, to_money, unit_price_groups
from properties import examples

D = Decimal


def groups(*pairs: tuple[int, str]) -> tuple[PriceGroup, ...]:
    return tuple(PriceGroup(q, D(p)) for q, p in pairs)


# -- unit_price_groups ----------------------------------------------------------------------------

@pytest.mark.parametrize(("price", "qty", "discount", "expected"), [
    ("10.00", 3, "1.00", groups((2, "9.67"), (1, "9.66"))),
    ("10.00", 3, "0.00", groups((3, "10.00"))),
    ("10.00", 1, "2.50", groups((1, "7.50"))),
    ("0.01", 3, "0.01", groups((2, "0.01"), (1, "0.00"))),  # 0.03 - 0.01 = 0.02 over three units
    ("19.99", 4, "5.00", groups((4, "18.74"))),          # 79.96 - 5.00 = 74.96 = 4 × 18.74
    ("19.99", 4, "5.01", groups((3, "18.74"), (1, "18.73"))),
    ("5.00", 2, "10.00", groups((2, "0.00"))),           # fully discounted
    ("0.00", 5, "0.00", groups((5, "0.00"))),            # free item
    ("100.00", 7, "0.01", groups((6, "100.00"), (1, "99.99"))),
], ids=["3x10-less-1", "no-discount", "one-unit", "tiny", "even-split", "odd-split", "free-by-discount",
        "free-item", "one-cent-off"])
def test_unit_price_groups_spreads_the_discount_with_the_dearer_cent_first(price, qty, discount, expected):
    got = unit_price_groups(D(price), qty, D(discount))
    assert got == expected
    assert sum((g.total for g in got), D("0")) == D(price) * qty - D(discount)


def test_unit_price_groups_of_no_units_is_empty():
    assert unit_price_groups(D("10.00"), 0, D("0.00")) == ()


def test_take_units_takes_the_first_units_in_group_order():
    g = groups((2, "9.67"), (1, "9.66"))
    assert take_units(g, 1) == groups((1, "9.67"))
    assert take_units(g, 3) == g
    assert take_units(g, 5) == g
    assert take_units(g, 0) == ()


cents = st.integers(min_value=0, max_value=10_000_000).map(lambda c: D(c) * CENT)


@settings(max_examples=examples(300))
@given(price=cents, qty=st.integers(min_value=1, max_value=1000), data=st.data())
def test_unit_price_groups_always_sum_exactly_and_differ_by_at_most_one_cent(price, qty, data):
    line_value_cents = int(price / CENT) * qty
    discount = D(data.draw(st.integers(min_value=0, max_value=line_value_cents))) * CENT
    got = unit_price_groups(price, qty, discount)
    assert sum(g.qty for g in got) == qty
    assert sum((g.total for g in got), D("0")) == price * qty - discount
    prices = [g.unit_price for g in got]
    assert max(prices) - min(prices) <= CENT
    assert all(g.qty > 0 and g.unit_price >= 0 and g.unit_price == g.unit_price.quantize(CENT) for g in got)
    assert prices == sorted(prices, reverse=True)  # dearer cent first


# -- allocate -------------------------------------------------------------------------------------

@pytest.mark.parametrize(("total", "weights", "expected"), [
    ("10.00", ["1", "1", "1"], ["3.34", "3.33", "3.33"]),
    ("1.00", ["30.00", "10.00"], ["0.75", "0.25"]),
    ("0.01", ["1", "1"], ["0.01", "0.00"]),
    ("5.00", ["0", "0"], ["5.00", "0.00"]),            # no weight: all on the first
    ("7.00", ["2"], ["7.00"]),
    ("0.00", ["1", "2"], ["0.00", "0.00"]),
    ("100.00", ["1", "0", "3"], ["25.00", "0.00", "75.00"]),
    ("0.05", ["1", "1", "1"], ["0.02", "0.02", "0.01"]),   # ties go to the earlier weight
], ids=["thirds", "proportional", "one-cent", "zero-weights", "single", "zero-total", "zero-weight-gets-nothing",
        "ties-earlier-first"])
def test_allocate_splits_in_proportion_to_the_cent(total, weights, expected):
    got = allocate(D(total), [D(w) for w in weights])
    assert got == [D(e) for e in expected]
    assert sum(got, D("0")) == D(total)


def test_allocate_over_no_weights_is_empty():
    assert allocate(D("1.00"), []) == []


@settings(max_examples=examples(300))
@given(total=cents, weights=st.lists(cents, min_size=1, max_size=8))
def test_allocate_sums_exactly_and_is_proportional_within_a_cent(total, weights):
    got = allocate(total, weights)
    assert len(got) == len(weights)
    assert sum(got, D("0")) == total
    assert all(s == s.quantize(CENT) and s >= 0 for s in got)
    weight_sum = sum(weights, D("0"))
    if weight_sum:
        for share, w in zip(got, weights):
            assert abs(share - total * w / weight_sum) < CENT


# -- to_money -------------------------------------------------------------------------------------

@pytest.mark.parametrize(("value", "expected"), [
    ("19.99", "19.99"),
    ("19.9", "19.90"),
    ("7", "7.00"),
    (7, "7.00"),
    ("0.005", "0.00"),       # half-even: banker's rounding at the edge
    ("0.015", "0.02"),
    ("-3.50", "-3.50"),
    (D("1.234"), "1.23"),
    (0.1, "0.10"),           # floats go through repr, not binary: 0.1 is 0.10, not 0.1000000000000000055
    (2.675, "2.68"),         # binary 2.675 is 2.67499999…; repr "2.675" rounds half-even to 2.68
    (1e-3, "0.00"),
    ("1E+2", "100.00"),
])
def test_to_money_parses_amounts_to_the_cent(value, expected):
    got = to_money(value)
    assert got == D(expected)
    assert got.as_tuple().exponent == -2


@pytest.mark.parametrize("value", ["NaN", "sNaN", "Infinity", "-Infinity", float("nan"), float("inf"),
                                   float("-inf")])
def test_to_money_refuses_non_finite_amounts(value):
    with pytest.raises(ValueError, match="not finite"):
        to_money(value)


@settings(max_examples=examples(200))
@given(st.floats(allow_nan=False, allow_infinity=False, min_value=-1e9, max_value=1e9))
def test_to_money_of_a_float_equals_to_money_of_its_repr(x):
    assert to_money(x) == to_money(repr(x))
