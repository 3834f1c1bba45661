"""Collection queries: `_filter` JSON, plain equality params, `query`, `sort[]`, `_only[]`, paging."""
from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any, TypeVar

from mortard.sandbox.errors import bad_request

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
    if not (isinstance(spec, dict) and spec and all(k.startswith("$") for k in spec)):
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


def prefilter(objects: Iterable[T], query: Any, fields: Iterable[str]) -> list[T]:
    """Cheaply narrow records before rendering them, on plain attributes that render unchanged.

    Only a speed-up: `filter_rows` still checks the rendered rows afterwards.
    """
    narrowing = []
    for cond in _conditions(query, ()):
        for part in cond if isinstance(cond, list) else [cond]:
            if isinstance(part, dict):
                narrowing += [(k, v) for k, v in part.items() if k in fields]
    objs = list(objects)
    for key, spec in narrowing:
        objs = [o for o in objs if _field_matches(getattr(o, key), spec)]
    return objs


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

