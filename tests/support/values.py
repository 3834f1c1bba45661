"""Small helpers for looking into plain values (JSON-like data) in tests."""
from __future__ import annotations


def ints_in(value: object) -> list[int]:
    """Every integer in nested dicts and lists (booleans are not numbers here)."""
    if isinstance(value, bool):
        return []
    if isinstance(value, int):
        return [value]
    if isinstance(value, dict):
        return [n for v in value.values() for n in ints_in(v)]
    if isinstance(value, (list, tuple)):
        return [n for v in value for n in ints_in(v)]
    return []
