"""Decimal-safe JSON for the Heartland wire format.

Heartland money is a JSON number with at most two decimals. Reading parses every non-integer number
as `Decimal` (never float); writing renders a `Decimal` as a plain number literal (`19.99`, never
`19.990000000000002` or `1.999E+1`). Floats are refused on the way out so that a float can't sneak
into a money field unnoticed.
"""
from __future__ import annotations

import json
from json.encoder import encode_basestring_ascii  # type: ignore[attr-defined]
from datetime import date, datetime
from decimal import Decimal
from typing import Any

__all__ = ["dumps", "loads"]

# What json.dumps writes for these, without building an encoder per value.
_string = encode_basestring_ascii
_CONSTANTS = {None: "null", True: "true", False: "false"}


def loads(text: str | bytes) -> Any:
    """Parse JSON, with every fractional/exponent number as `Decimal`."""
    return json.loads(text, parse_float=Decimal)


def dumps(value: Any) -> str:
    """Render `value` as compact JSON; `Decimal` becomes a number literal."""
    parts: list[str] = []
    _write(value, parts)
    return "".join(parts)


def _decimal_literal(value: Decimal) -> str:
    if not value.is_finite():
        raise ValueError(f"cannot send a non-finite Decimal to Heartland: {value!r}")
    if value.is_zero():
        value = value.copy_abs()  # no "-0.00"
    return format(value, "f")  # fixed point: never an exponent


def _write(value: Any, out: list[str]) -> None:
    # bool before int: bool is an int subclass.
    if isinstance(value, str):
        out.append(_string(value))
    elif value is None or isinstance(value, bool):
        out.append(_CONSTANTS[value])
    elif isinstance(value, int):
        out.append(int.__repr__(value))
    elif isinstance(value, Decimal):
        out.append(_decimal_literal(value))
    elif isinstance(value, float):
        raise TypeError(f"refusing to send a float ({value!r}) to Heartland; use Decimal")
    elif isinstance(value, (datetime, date)):
        out.append(_string(value.isoformat()))
    elif isinstance(value, dict):
        out.append("{")
        for i, (key, item) in enumerate(value.items()):
            if not isinstance(key, str):
                raise TypeError(f"JSON object keys must be str, not {type(key).__name__}")
            if i:
                out.append(",")
            out.append(_string(key))
            out.append(":")
            _write(item, out)
        out.append("}")
    elif isinstance(value, (list, tuple)):
        out.append("[")
        for i, item in enumerate(value):
            if i:
                out.append(",")
            _write(item, out)
        out.append("]")
    else:
        raise TypeError(f"cannot encode {type(value).__name__} as Heartland JSON")
