"""Output for the operator commands: aligned plain-text tables and one JSON document.

No dependency: a table is a list of rows of cells; cells are rendered with `cell()` (None as "-",
times in UTC to the second, Decimals as written); long reasons and errors wrap to the terminal.
"""
from __future__ import annotations

import base64
import json
import os
import re
import shutil
import sys
import textwrap
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime, timezone
from decimal import Decimal
from typing import Any

from mortard.sync.money import CENT

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


def output_width() -> int | None:
    """The width to fit tables to: `COLUMNS` when set, else the terminal's when stdout is one;
    None in a pipe (each row stays one whole line there, for grep)."""
    raw = os.environ.get("COLUMNS", "")
    if raw.isdigit() and int(raw) > 0:
        return int(raw)
    try:
        if sys.stdout.isatty():
            return shutil.get_terminal_size().columns
    except (AttributeError, ValueError, OSError):
        pass
    return None


_NARROWEST = 12   # a wrapping column is never squeezed below this


def table(headers: Sequence[str], rows: Iterable[Sequence[Any]], *,
          max_widths: Mapping[str, int] | None = None, indent: str = "", width: int | None = -1) -> str:
    """Columns aligned on the widest cell, two spaces apart, a rule under the headers.

    The columns named in `max_widths` (reasons, errors, details) wrap onto further lines at that
    width, narrower still when the table would not fit `width` (default: `output_width()`); nothing
    is cut. With no width to fit (a pipe), every row is one line with every cell whole.
    Numbers are right-aligned.
    """
    fit = output_width() if width == -1 else width
    limits = dict(max_widths or {}) if fit is not None else {}
    raw = [list(r) for r in rows]
    text = [[cell(v) for v in r] for r in raw]
    widths = [len(h) for h in headers]
    for r in text:
        for i, c in enumerate(r):
            widths[i] = max(widths[i], len(c))
    wrapping = [i for i, h in enumerate(headers) if h in limits]
    for i in wrapping:
        widths[i] = max(len(headers[i]), min(widths[i], limits[headers[i]]))
    if fit is not None:
        _squeeze(widths, wrapping, [len(h) for h in headers], fit - len(indent))
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
    for r in text:
        pieces = [_wrap(c, widths[i]) if i in wrapping else [c] for i, c in enumerate(r)]
        for k in range(max(len(p) for p in pieces)):
            out.append(line([p[k] if k < len(p) else "" for p in pieces], align=k == 0))
    return "\n".join(out)


def _squeeze(widths: list[int], wrapping: Sequence[int], floors: Sequence[int], room: int) -> None:
    """Narrow the wrapping columns, widest first, until the row fits `room` (or none can give)."""
    while sum(widths) + 2 * (len(widths) - 1) > room:
        candidates = [i for i in wrapping if widths[i] > max(_NARROWEST, floors[i])]
        if not candidates:
            return
        widest = max(candidates, key=lambda i: widths[i])
        over = sum(widths) + 2 * (len(widths) - 1) - room
        widths[widest] = max(_NARROWEST, floors[widest], widths[widest] - over)


def _wrap(text: str, width: int) -> list[str]:
    if len(text) <= width:
        return [text]
    return textwrap.wrap(text, width=width, break_long_words=True, break_on_hyphens=False) or [""]


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
