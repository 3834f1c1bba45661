"""Copying and serialising the core's frozen values, faster than `dataclasses` does it."""
from __future__ import annotations

from dataclasses import fields, is_dataclass
from decimal import Decimal
from typing import Any, TypeVar


T = TypeVar("T")


_FIELD_NAMES: dict[type, tuple[str, ...]] = {}


def _names(cls: type) -> tuple[str, ...]:
    names = _FIELD_NAMES.get(cls)
    if names is None:
        names = _FIELD_NAMES[cls] = tuple(f.name for f in fields(cls))
    return names


def evolve(obj: T, **changes: Any) -> T:
    """`dataclasses.replace` for our frozen values (every field an init field), at a third of the
    cost: the planner and batching make a hundred and more copies per order."""
    kw = {n: getattr(obj, n) for n in _names(type(obj))}
    kw.update(changes)
    return type(obj)(**kw)


def plain(value: Any) -> Any:
    """A value as JSON-ready data: dataclasses as dicts, tuples as lists, Decimal as text.

    What `dataclasses.asdict` does, minus its deep copies: mirrors and actions are frozen values,
    and asdict was a fifth of the daemon's CPU (bench/pipeline.py --cprofile)."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if type(value) not in _FIELD_NAMES and (not is_dataclass(value) or isinstance(value, type)):
        return value
    return {n: plain(getattr(value, n)) for n in _names(type(value))}

