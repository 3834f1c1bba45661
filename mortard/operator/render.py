"""Output for the operator commands: aligned plain-text tables and one JSON document.

No dependency: a table is a list of rows of cells; cells are rendered with `cell()` (None as "-",
times in UTC to the second, Decimals as written) and cut to a column's width limit with "…".
"""
from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime, timezone
from decimal import Decimal
from typing import Any

from mortard.sync.money import CENT

_ELLIPSIS = "…"
_BREAKS = re.compile(r"\s*[\r\n\t]+\s*")


def cell(value: Any) -> str:
    """One value as table text."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, datetime):
        return when(value)
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, (list, tuple)):
        return ", ".join(cell(v) for v in value) if value else "-"
    if isinstance(value, Mapping):
        return json.dumps(jsonable(value), separators=(",", ":"), sort_keys=True) if value else "-"
    return _BREAKS.sub(" ", str(value)).strip()  # one line per row


def when(value: datetime | None) -> str:
    if value is None:
        return "-"
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%SZ")


def money(value: Any) -> str:
    """An amount to the cent ("111.00"), from a Decimal or the text form of one; else as given."""
    if value is None:
        return "-"
    try:
        return str(Decimal(str(value)).quantize(CENT))
    except ArithmeticError:
        return str(value)


def clip(text: str, width: int | None) -> str:
    if width is None or len(text) <= width:
        return text
    return text[: max(0, width - 1)] + _ELLIPSIS


def table(headers: Sequence[str], rows: Iterable[Sequence[Any]], *,
          max_widths: Mapping[str, int] | None = None, indent: str = "") -> str:
    """Columns aligned on the widest cell, two spaces apart, a rule under the headers.

    `max_widths` caps named columns (long messages are cut with "…"; `--json` has them whole).
    Numbers are right-aligned.
    """
    limits = max_widths or {}
    raw = [list(r) for r in rows]
    text = [[clip(cell(v), limits.get(h)) for h, v in zip(headers, r)] for r in raw]
    widths = [len(h) for h in headers]
    for r in text:
        for i, c in enumerate(r):
            widths[i] = max(widths[i], len(c))
    numeric = [bool(raw) and all(isinstance(r[i], (int, Decimal)) and not isinstance(r[i], bool) or r[i] is None
                                 for r in raw) for i in range(len(headers))]

    def line(cells: Sequence[str], align: bool = True) -> str:
        parts = []
        for i, c in enumerate(cells):
            last = i == len(cells) - 1
            if align and numeric[i]:
                parts.append(c.rjust(widths[i]))
            else:
                parts.append(c if last else c.ljust(widths[i]))
        return (indent + "  ".join(parts)).rstrip()

    out = [line(list(headers), align=False), line(["-" * w for w in widths], align=False)]
    out += [line(r) for r in text]
    return "\n".join(out)


def fields_block(pairs: Iterable[tuple[str, Any]], *, indent: str = "") -> str:
    """`label: value` lines with the values aligned; pairs whose value is None are left out."""
    kept = [(k, v) for k, v in pairs if v is not None]
    if not kept:
        return ""
    width = max(len(k) for k, _ in kept) + 1
    return "\n".join(f"{indent}{(k + ':').ljust(width)} {v if isinstance(v, str) else cell(v)}" for k, v in kept)


def jsonable(value: Any) -> Any:
    """Plain JSON values: Decimals and times as strings, tuples as lists, bytes as base64."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, (bytes, bytearray, memoryview)):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [jsonable(v) for v in value]
    return value


def to_json(document: Any) -> str:
    return json.dumps(jsonable(document), indent=2, ensure_ascii=False)


def emit(text: str) -> None:
    print(text, flush=True)
