"""JSON in and out with exact money: parse floats as Decimal, write Decimal as a 2-decimal literal."""
from __future__ import annotations

import json
from decimal import Decimal
from json.encoder import encode_basestring_ascii as _quote
from typing import Any

CENT = Decimal("0.01")


def loads(text: str | bytes) -> Any:
    return json.loads(text, parse_float=Decimal)


def dumps(value: Any) -> str:
    parts: list[str] = []
    _write(value, parts)
    return "".join(parts)


def _write(value: Any, out: list[str]) -> None:
    # Exact types first: the common cases, written as json.dumps would (`_quote` is what it uses
    # for a str) without its per-call overhead. Anything else takes the general path below.
    kind = type(value)
    if kind is str:
        out.append(_quote(value))
    elif kind is int:
        out.append(int.__repr__(value))
    elif value is None:
        out.append("null")
    elif value is True or value is False:
        out.append("true" if value else "false")
    elif isinstance(value, Decimal):
        out.append(format(value.quantize(CENT), "f"))
    elif isinstance(value, dict):
        out.append("{")
        for i, (key, item) in enumerate(value.items()):
            out.append(f"{', ' if i else ''}{_quote(str(key))}: ")
            _write(item, out)
        out.append("}")
    elif isinstance(value, (list, tuple)):
        out.append("[")
        for i, item in enumerate(value):
            if i:
                out.append(", ")
            _write(item, out)
        out.append("]")
    else:
        out.append(json.dumps(value))
