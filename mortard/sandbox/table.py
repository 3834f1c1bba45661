"""`Table`: records by id (a dict) that can also find records by the value of a few attributes.

Equality filters (`{"email": ...}`, `{"item_id": {"$in": [...]}}`) then cost the size of the answer
instead of a scan of the whole account. The index is only a way to find candidates: callers still
apply the filter itself, so an index that returns a few records too many is harmless, but one that
misses a record is a bug. Hence the rules:

* storing a record (`table[id] = record`) files it under each indexed attribute;
* code that changes an indexed attribute of a stored record calls `reindex(record)` afterwards;
* records are never removed (no API deletes them; a reset builds new tables).
"""
from __future__ import annotations

from collections.abc import Iterable
from typing import Any, NoReturn, TypeVar

T = TypeVar("T")


class _Odd:
    """Bucket for values the filter coercion treats specially (bool, Decimal, ...): always candidates."""

    def __repr__(self) -> str:
        return "ODD"


ODD = _Odd()
_UNFILED = object()


def bucket_key(value: Any) -> Any:
    """Plain values (str, int, None) are their own key; anything else shares the ODD bucket."""
    if value is None or type(value) in (str, int):
        return value
    return ODD


class Table(dict[int, T]):
    """A dict of records by id, plus `lookup(attr, values)` for the attributes named at creation."""

    def __init__(self, *indexed: str) -> None:
        super().__init__()
        self._rank: dict[int, int] = {}  # id -> insertion position, so lookups keep the table's order
        self._filed: dict[str, dict[int, Any]] = {attr: {} for attr in indexed}   # attr -> id -> key
        self._buckets: dict[str, dict[Any, set[int]]] = {attr: {} for attr in indexed}  # attr -> key -> ids

    def __setitem__(self, ident: int, record: T) -> None:
        if ident not in self:
            self._rank[ident] = len(self._rank)
        super().__setitem__(ident, record)
        self._file(ident, record)

    def reindex(self, record: Any) -> None:
        """Call after changing an indexed attribute of a stored record."""
        self._file(record.id, record)

    def indexes(self, attr: str) -> bool:
        return attr in self._buckets

    def lookup(self, attr: str, values: Iterable[Any]) -> list[T]:
        """Records whose `attr` is one of `values` (str, int or None), plus any with an odd value,
        in table order. The caller filters them exactly."""
        buckets = self._buckets[attr]
        ids = set(buckets.get(ODD, ()))
        for value in values:
            ids.update(buckets.get(value, ()))
        return [self[i] for i in sorted(ids, key=self._rank.__getitem__)]

    def _file(self, ident: int, record: Any) -> None:
        for attr, filed in self._filed.items():
            key = bucket_key(getattr(record, attr))
            old = filed.get(ident, _UNFILED)
            if old == key:  # keys are str, int, None or ODD: no cross-type equality
                continue
            buckets = self._buckets[attr]
            if old is not _UNFILED:
                buckets[old].discard(ident)
                if not buckets[old]:
                    del buckets[old]
            buckets.setdefault(key, set()).add(ident)
            filed[ident] = key

    # Removing or bulk-changing records would bypass the index; nothing needs them.
    def _unsupported(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise TypeError("Table supports only table[id] = record")

    __delitem__ = pop = popitem = clear = update = setdefault = _unsupported  # type: ignore[assignment]

