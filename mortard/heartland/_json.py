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


# json.loads(text, parse_float=Decimal) builds this decoder on every call; one does for all.
_decode = json.JSONDecoder(parse_float=Decimal).decode


def loads(text: str | bytes) -> Any:
    """Parse JSON, with every fractional/exponent number as `Decimal`."""
    if not isinstance(text, str):   # bytes off the wire: decoded as json.loads would
        text = text.decode(json.detect_encoding(text), "surrogatepass")
    return _decode(text)


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
    # Exact types first (the common case, and cheaper than an isinstance chain); subclasses such as
    # bool (an int) or IntEnum take the general path below.
    kind = type(value)
    if kind is str:
        out.append(_string(value))
    elif kind is int:
        out.append(int.__repr__(value))
    elif kind is Decimal:
        out.append(_decimal_literal(value))
    elif kind is dict:
        _write_object(value, out)
    elif kind is list or kind is tuple:
        _write_array(value, out)
    elif value is None or kind is bool:
        out.append(_CONSTANTS[value])
    else:
        _write_other(value, out)


def _write_object(value: dict[Any, Any], out: list[str]) -> None:
    out.append("{")
    first = True
    for key, item in value.items():
        if type(key) is not str and not isinstance(key, str):
            raise TypeError(f"JSON object keys must be str, not {type(key).__name__}")
        if not first:
            out.append(",")
        first = False
        out.append(_string(key))
        out.append(":")
        _write(item, out)
    out.append("}")


def _write_array(value: list[Any] | tuple[Any, ...], out: list[str]) -> None:
    out.append("[")
    for i, item in enumerate(value):
        if i:
            out.append(",")
        _write(item, out)
    out.append("]")


def _write_other(value: Any, out: list[str]) -> None:
    if isinstance(value, bool):
        out.append(_CONSTANTS[bool(value)])
    elif isinstance(value, str):
        out.append(_string(str(value)))
    elif isinstance(value, int):
        out.append(int.__repr__(value))
    elif isinstance(value, Decimal):
        out.append(_decimal_literal(value))
    elif isinstance(value, float):
        raise TypeError(f"refusing to send a float ({value!r}) to Heartland; use Decimal")
    elif isinstance(value, (datetime, date)):
        out.append(_string(value.isoformat()))
    elif isinstance(value, dict):
        _write_object(value, out)
    elif isinstance(value, (list, tuple)):
        _write_array(value, out)
    else:
        raise TypeError(f"cannot encode {type(value).__name__} as Heartland JSON")
