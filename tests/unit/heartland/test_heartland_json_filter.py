from __future__ import annotations

import json
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mortard.heartland import F, encode_filter
from mortard.heartland._json import dumps, loads


def test_decimal_is_written_as_a_number_literal() -> None:
    assert dumps({"amount": Decimal("19.99")}) == '{"amount":19.99}'
    assert dumps([Decimal("1E+2"), Decimal("-0.00"), Decimal("0.10")]) == "[100,0.00,0.10]"


def test_floats_are_refused_on_the_way_out() -> None:
    with pytest.raises(TypeError):
        dumps({"amount": 19.99})
    with pytest.raises(ValueError):
        dumps(Decimal("NaN"))


def test_numbers_come_back_as_decimal_and_ints_stay_int() -> None:
    parsed = loads('{"total": 19.99, "id": 7, "ok": true, "none": null}')
    assert parsed == {"total": Decimal("19.99"), "id": 7, "ok": True, "none": None}
    assert isinstance(parsed["total"], Decimal) and isinstance(parsed["id"], int)


@pytest.mark.parametrize("encoding", ["utf-8", "utf-16", "utf-32"])
def test_a_body_off_the_wire_parses_as_json_loads_would(encoding: str) -> None:
    text = '{"description": "Café crème", "price": 4.50}'
    assert loads(text.encode(encoding)) == json.loads(text.encode(encoding), parse_float=Decimal) \
        == {"description": "Café crème", "price": Decimal("4.50")}
    with pytest.raises(json.JSONDecodeError):
        loads(b'{"price": 4.5')


@settings(deadline=None)
@given(st.decimals(allow_nan=False, allow_infinity=False, places=2, min_value=-10**9, max_value=10**9))
def test_money_round_trips_exactly(value: Decimal) -> None:
    assert loads(dumps({"v": value}))["v"] == value


def test_strings_and_nesting_are_plain_json() -> None:
    doc = {"a": ["x\"y", 1, None, {"b": False}], "c": "é"}
    assert json.loads(dumps(doc)) == doc


def test_filter_in_encodes_as_operator_object() -> None:
    assert json.loads(F.in_("public_id", ["A", "B"]).to_json()) == {"public_id": {"$in": ["A", "B"]}}


def test_filter_eq_is_a_literal_and_custom_fields_use_the_at_prefix() -> None:
    assert F.eq("name", "Shopify").to_json() == '{"name":"Shopify"}'
    assert F.eq(F.custom("upc"), "0123").to_json() == '{"custom@upc":"0123"}'


def test_filters_anded_become_an_array() -> None:
    encoded = encode_filter(F.eq("status", "open"), F.gt("id", 10))
    assert json.loads(encoded) == [{"status": "open"}, {"id": {"$gt": 10}}]


def test_or_and_comparison_operators() -> None:
    f = F.or_(F.eq("name", "X"), F.eq("public_id", "X"))
    assert json.loads(f.to_json()) == {"$or": [{"name": "X"}, {"public_id": "X"}]}
    assert json.loads(F.and_(F.gte("id", 1), F.lte("id", 5)).to_json()) == {
        "$and": [{"id": {"$gte": 1}}, {"id": {"$lte": 5}}]
    }
    assert F.neq("x", None).to_json() == '{"x":{"$neq":null}}'
    assert F.lt("total", Decimal("5.50")).to_json() == '{"total":{"$lt":5.50}}'
