"""Copying and serialising the core's frozen values, faster than `dataclasses` does it."""
from __future__ import annotations

from dataclasses import fields, is_dataclass
from decimal import Decimal
from operator import attrgetter
from typing import Any, Callable, TypeVar


T = TypeVar("T")


_FIELD_NAMES: dict[type, tuple[str, ...]] = {}
# Per class: its field names, one C call that reads them all, and each name's position.
_GETTERS: dict[type, tuple[tuple[str, ...], Callable[[Any], tuple[Any, ...]], dict[str, int]]] = {}


def _names(cls: type) -> tuple[str, ...]:
    names = _FIELD_NAMES.get(cls)
    if names is None:
        names = _FIELD_NAMES[cls] = tuple(f.name for f in fields(cls))
    return names


def field_names(cls: type) -> tuple[str, ...]:
    """A dataclass's field names, looked up once per class."""
    return _FIELD_NAMES.get(cls) or _names(cls)


def _getter(cls: type) -> tuple[tuple[str, ...], Callable[[Any], tuple[Any, ...]], dict[str, int]]:
    """The class's field names, one C call that reads them all (always as a tuple), and where each
    name sits in it (and in the class's positional `__init__`)."""
    if any(not f.init or f.kw_only for f in fields(cls)):
        raise TypeError(f"evolve needs every field of {cls.__name__} to be a positional init field")
    names = _names(cls)
    if len(names) > 1:
        get: Callable[[Any], tuple[Any, ...]] = attrgetter(*names)
    elif names:
        one = attrgetter(names[0])
        get = lambda obj: (one(obj),)   # noqa: E731
    else:
        get = lambda obj: ()   # noqa: E731
    entry = _GETTERS[cls] = (names, get, {n: i for i, n in enumerate(names)})
    return entry


def evolve(obj: T, **changes: Any) -> T:
    """`dataclasses.replace` for our frozen values (every field an init field), at a fraction of the
    cost: the planner and batching make a hundred and more copies per order."""
    cls = type(obj)
    _, get, position = _GETTERS.get(cls) or _getter(cls)
    values = list(get(obj))
    for name, value in changes.items():
        values[position[name]] = value   # a KeyError names a field the class doesn't have
    return cls(*values)   # positional: half the cost of building and passing a keyword dict


_LEAVES = frozenset({str, int, float, bool, type(None)})


def plain(value: Any) -> Any:
    """A value as JSON-ready data: dataclasses as dicts, tuples as lists, Decimal as text.

    What `dataclasses.asdict` does, minus its deep copies: mirrors and actions are frozen values,
    and asdict was a fifth of the daemon's CPU (bench/pipeline.py --cprofile). The exact types met
    on every call are told apart first, by one lookup each; anything else goes the general way."""
    kind = type(value)
    if kind in _LEAVES:
        return value
    if kind is Decimal:
        return str(value)
    if kind is tuple or kind is list:
        return [plain(v) for v in value]
    if kind is dict:
        return {k: plain(v) for k, v in value.items()}
    names = _FIELD_NAMES.get(kind)
    if names is not None:
        return {n: plain(getattr(value, n)) for n in names}
    return _plain_other(value)


def _plain_other(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if not is_dataclass(value) or isinstance(value, type):
        return value
    return {n: plain(getattr(value, n)) for n in _names(type(value))}
