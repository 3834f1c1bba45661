"""A small builder for Heartland's `_filter` JSON.

    F.in_("public_id", ["A", "B"])           -> {"public_id": {"$in": ["A", "B"]}}
    F.eq("status", "open") & F.gt("id", 10)  -> [{"status": "open"}, {"id": {"$gt": 10}}]
    F.or_(F.eq("name", "X"), F.eq("public_id", "X"))
                                             -> {"$or": [{"name": "X"}, {"public_id": "X"}]}
    F.eq(F.custom("upc"), "0123")            -> {"custom@upc": "0123"}

A filter is an object (its fields ANDed) or an array of objects (ANDed); `$or`/`$and` take arrays.
`encode_filter` renders the value of the `_filter` query parameter.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from . import _json

__all__ = ["F", "Filter", "encode_filter"]


@dataclass(frozen=True, slots=True)
class Filter:
    """One filter term: a list of JSON objects, ANDed (usually one)."""

    terms: tuple[dict[str, Any], ...]

    def __and__(self, other: Filter) -> Filter:
        return Filter(self.terms + other.terms)

    def to_jsonable(self) -> dict[str, Any] | list[dict[str, Any]]:
        return self.terms[0] if len(self.terms) == 1 else list(self.terms)

    def to_json(self) -> str:
        return _json.dumps(self.to_jsonable())


def _op(field: str, op: str, value: Any) -> Filter:
    return Filter(({field: {op: value}},))


class F:
    """Constructors for filter terms (a namespace; not instantiated)."""

    @staticmethod
    def custom(key: str) -> str:
        """The field name that addresses custom field `key`."""
        return f"custom@{key}"

    @staticmethod
    def eq(field: str, value: Any) -> Filter:
        return Filter(({field: value},))  # a plain literal means equality

    @staticmethod
    def neq(field: str, value: Any) -> Filter:
        return _op(field, "$neq", value)

    @staticmethod
    def gt(field: str, value: Any) -> Filter:
        return _op(field, "$gt", value)

    @staticmethod
    def gte(field: str, value: Any) -> Filter:
        return _op(field, "$gte", value)

    @staticmethod
    def lt(field: str, value: Any) -> Filter:
        return _op(field, "$lt", value)

    @staticmethod
    def lte(field: str, value: Any) -> Filter:
        return _op(field, "$lte", value)

    @staticmethod
    def in_(field: str, values: Iterable[Any]) -> Filter:
        return _op(field, "$in", list(values))

    @staticmethod
    def or_(*filters: Filter) -> Filter:
        return Filter(({"$or": [_single(f) for f in filters]},))

    @staticmethod
    def and_(*filters: Filter) -> Filter:
        return Filter(({"$and": [_single(f) for f in filters]},))


def _single(f: Filter) -> dict[str, Any]:
    return f.terms[0] if len(f.terms) == 1 else {"$and": list(f.terms)}


def encode_filter(*filters: Filter) -> str:
    """The `_filter` parameter value for all `filters` ANDed together."""
    if not filters:
        raise ValueError("encode_filter needs at least one filter")
    combined = filters[0]
    for f in filters[1:]:
        combined = combined & f
    return combined.to_json()
