"""Collection queries: `_filter` JSON, plain equality params, `query`, `sort[]`, `_only[]`, paging."""
from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any, TypeVar

from mortard.sandbox.errors import bad_request
from mortard.sandbox.table import Table

Row = dict[str, Any]
T = TypeVar("T")
_RESERVED = {"page", "per_page", "sort[]", "sort", "group[]", "query", "exclude_empty_locations"}
_COMPARE = {"$gt": lambda a, b: a > b, "$gte": lambda a, b: a >= b,
            "$lt": lambda a, b: a < b, "$lte": lambda a, b: a <= b}


def parse_filters(query: Mapping[str, str] | Any) -> list[Any]:
    """Every `_filter` / `_filter[]` parameter, JSON-decoded (money as Decimal)."""
    out = []
    for key in ("_filter", "_filter[]"):
        for raw in query.getall(key, []):
            try:
                out.append(json.loads(raw, parse_float=Decimal))
            except ValueError as err:
                raise bad_request(f"_filter is not valid JSON: {err}") from None
    for cond in out:
        if not isinstance(cond, (dict, list)):
            raise bad_request("_filter must be a JSON object or array")
    return out


def matches(cond: Any, row: Row) -> bool:
    """Does `row` satisfy a filter condition (object = AND of fields, array = AND of objects)?"""
    if isinstance(cond, list):
        return all(matches(c, row) for c in cond)
    if not isinstance(cond, dict):
        raise bad_request(f"filter condition must be an object, got {cond!r}")
    for key, spec in cond.items():
        if key in ("$or", "$and"):
            if not isinstance(spec, list):
                raise bad_request(f"{key} takes an array")
            results = (matches(c, row) for c in spec)
            if not (any(results) if key == "$or" else all(results)):
                return False
        elif key.startswith("$"):
            raise bad_request(f"unknown filter operator {key}")
        elif not _field_matches(field_value(row, key), spec):
            return False
    return True


def field_value(row: Row, key: str) -> Any:
    if key.startswith("custom@"):
        return (row.get("custom") or {}).get(key.removeprefix("custom@"))
    return row.get(key)


def _field_matches(value: Any, spec: Any) -> bool:
    if not _is_operator_spec(spec):
        return _equal(value, spec)
    for op, operand in spec.items():
        if op == "$eq":
            ok = _equal(value, operand)
        elif op == "$neq":
            ok = not _equal(value, operand)
        elif op == "$in":
            if not isinstance(operand, list):
                raise bad_request("$in takes an array")
            ok = any(_equal(value, o) for o in operand)
        elif op in _COMPARE:
            other = _coerce(operand, value)
            try:
                ok = value is not None and other is not None and _COMPARE[op](value, other)
            except TypeError:
                ok = False
        else:
            raise bad_request(f"unknown filter operator {op}")
        if not ok:
            return False
    return True


def _coerce(literal: Any, like: Any) -> Any:
    """Query strings and JSON literals compared with a row's typed value (`"5"` equals `5`)."""
    if isinstance(literal, str) and not isinstance(like, str) and like is not None:
        try:
            if isinstance(like, bool):
                return {"true": True, "false": False}.get(literal.lower(), literal)
            if isinstance(like, int):
                return int(literal)
            if isinstance(like, Decimal):
                return Decimal(literal)
        except (ValueError, InvalidOperation):
            return literal
    if isinstance(like, str) and isinstance(literal, (int, Decimal)) and not isinstance(literal, bool):
        return str(literal)
    return literal


def _equal(value: Any, literal: Any) -> bool:
    if isinstance(value, bool) != isinstance(_coerce(literal, value), bool):
        return False
    return value == _coerce(literal, value)


def filter_rows(rows: Iterable[Row], query: Any, *, extra_reserved: Iterable[str] = ()) -> list[Row]:
    """Rows matching every `_filter`, plain equality param and `query` text."""
    conds = _conditions(query, extra_reserved)
    text = query.get("query", "").lower()
    return [r for r in rows if all(matches(c, r) for c in conds)
            and (not text or any(text in v.lower() for v in r.values() if isinstance(v, str)))]


def prefilter(objects: Iterable[T] | Table[T], query: Any, fields: Iterable[str]) -> list[T]:
    """Cheaply narrow records before rendering them, on plain attributes that render unchanged.

    A `Table` is first narrowed through its index when an equality term allows it. Only a
    speed-up: `filter_rows` still checks the rendered rows afterwards.
    """
    conds = _conditions(query, ())
    narrowing = [(k, v) for k, v in _and_terms(conds) if k in fields]
    objs = _candidates(objects, conds, narrowing)
    for key, spec in narrowing:
        objs = [o for o in objs if _field_matches(getattr(o, key), spec)]
    return objs


def _candidates(objects: Iterable[T] | Table[T], conds: list[Any],
                terms: list[tuple[str, Any]]) -> list[T]:
    if not isinstance(objects, Table):
        return list(objects)
    if _scan_cannot_fail(objects, conds, terms):
        for key, spec in terms:
            keys = equality_keys(spec)
            if keys is not None and objects.indexes(key):
                return objects.lookup(key, keys)
    return list(objects.values())


def _scan_cannot_fail(table: Table[Any], conds: list[Any], terms: list[tuple[str, Any]]) -> bool:
    """Records skipped through the index are never looked at, so that is only the same as a scan
    when the scan would not fail on them: a malformed filter, or a term on an attribute these
    records lack (e.g. `status` on customers), fails on the first record looked at."""
    sample = next(iter(table.values()), None)  # a table holds one record type
    return (sample is not None and all(hasattr(sample, key) for key, _ in terms)
            and all(well_formed(c) for c in conds))


def pinned(query: Any, fields: Iterable[str]) -> dict[str, set[Any]]:
    """For each of `fields` that a top-level equality or `$in` term pins down: the plain values it
    can have in matching rows (see `equality_keys`). Fields left free are absent."""
    conds = _conditions(query, ())
    if not all(well_formed(c) for c in conds):
        return {}
    pins: dict[str, set[Any]] = {}
    for key, spec in _and_terms(conds):
        if key in fields and key not in pins:
            keys = equality_keys(spec)
            if keys is not None:
                pins[key] = keys
    return pins


def _and_terms(conds: list[Any]) -> list[tuple[str, Any]]:
    """The `(field, spec)` terms every matching row must satisfy (top-level ANDs only)."""
    terms = []
    for cond in conds:
        for part in cond if isinstance(cond, list) else [cond]:
            if isinstance(part, dict):
                terms += list(part.items())
    return terms


def equality_keys(spec: Any) -> set[Any] | None:
    """Every str, int or None value that satisfies field condition `spec`, following `_equal`'s
    coercion ("5" and 5 are equal both ways); None when `spec` is not an equality or `$in`."""
    if not _is_operator_spec(spec):
        return _literal_keys(spec)
    if "$eq" in spec:
        return _literal_keys(spec["$eq"])
    if isinstance(spec.get("$in"), list):
        keys: set[Any] = set()
        for literal in spec["$in"]:
            more = _literal_keys(literal)
            if more is None:
                return None
            keys |= more
        return keys
    return None


def _literal_keys(literal: Any) -> set[Any] | None:
    if literal is None:
        return {None}
    if type(literal) is int:
        return {literal, str(literal)}
    if type(literal) is str:
        try:
            return {literal, int(literal)}
        except ValueError:
            return {literal}
    return None  # bool, Decimal, lists, objects: rare, not worth reasoning about


def well_formed(cond: Any) -> bool:
    """Can `matches` evaluate `cond` on any row without raising? Only then may rows be skipped
    unseen: a malformed filter must fail (or not) exactly as a full scan would."""
    if isinstance(cond, list):
        return all(well_formed(c) for c in cond)
    if not isinstance(cond, dict):
        return False
    for key, spec in cond.items():
        if key in ("$or", "$and"):
            ok = isinstance(spec, list) and all(well_formed(c) for c in spec)
        elif key.startswith("$"):
            ok = False
        else:
            ok = not _is_operator_spec(spec) or all(_known_op(op, arg) for op, arg in spec.items())
        if not ok:
            return False
    return True


def _is_operator_spec(spec: Any) -> bool:
    return isinstance(spec, dict) and bool(spec) and all(k.startswith("$") for k in spec)


def _known_op(op: str, operand: Any) -> bool:
    return op in ("$eq", "$neq") or op in _COMPARE or (op == "$in" and isinstance(operand, list))


def _conditions(query: Any, extra_reserved: Iterable[str]) -> list[Any]:
    reserved = _RESERVED | set(extra_reserved)
    conds: list[Any] = parse_filters(query)
    for key in query:
        if not key.startswith("_") and key not in reserved:
            conds.append({key: query.getone(key)})
    return conds


def paginate(rows: list[Row], query: Any) -> Row:
    """Sort, page and project rows into `{total, pages, results}`."""
    rows = _sort(rows, query.getall("sort[]", []) + query.getall("sort", []))
    page, per_page = _paging(query)
    total = len(rows)
    if per_page is None:
        pages, results = 1, rows
    else:
        pages = max(1, math.ceil(total / per_page))
        results = rows[(page - 1) * per_page: page * per_page]
    only = query.getall("_only[]", [])
    if only:
        results = [{k: r.get(k) for k in only} for r in results]
    return {"total": total, "pages": pages, "results": results}


def select(rows: Iterable[Row], query: Any) -> Row:
    return paginate(filter_rows(rows, query), query)


def _paging(query: Any) -> tuple[int, int | None]:
    try:
        page = int(query.get("page", "1"))
        raw = query.get("per_page", "20")
        per_page = None if raw == "all" else int(raw)
    except ValueError:
        raise bad_request("page and per_page must be integers (per_page may be 'all')") from None
    if page < 1 or (per_page is not None and per_page < 1):
        raise bad_request("page and per_page must be at least 1")
    return page, per_page


def _sort(rows: list[Row], specs: list[str]) -> list[Row]:
    for spec in reversed(specs):
        key, _, direction = spec.partition(",")
        if direction not in ("", "asc", "desc"):
            raise bad_request(f"bad sort direction in {spec!r}")
        rows = sorted(rows, key=lambda r, k=key: _sort_key(field_value(r, k)),
                      reverse=direction == "desc")
    return rows


def _sort_key(value: Any) -> tuple[int, Any]:
    if value is None:
        return (0, 0)
    if isinstance(value, (int, Decimal)) and not isinstance(value, bool):
        return (1, value)
    return (2, str(value))

