"""Turning stored values into what a person reads: ages, times, amounts, reason sentences, and JSON
with anything secret-looking blanked (the Jinja filters the templates use)."""
from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any

from mortard.operator.render import jsonable, money, when
from mortard.sync.states import REASONS, SyncState

# Keys whose values never reach a page, wherever they sit in a stored request or answer.
_SECRET_WORDS = ("token", "secret", "password", "authorization", "api_key", "apikey", "cookie")


def age(then: datetime | None, now: datetime | None = None) -> str:
    """'3 min', '2 h 05 min', '4 d 3 h': how long ago."""
    if then is None:
        return "-"
    now = now or datetime.now(timezone.utc)
    s = max(0, int((now - then).total_seconds()))
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min"
    if s < 86400:
        return f"{s // 3600} h {s % 3600 // 60:02d} min"
    return f"{s // 86400} d {s % 86400 // 3600} h"


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 120:
        return f"{seconds:.1f} s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def reasons(stored: Any) -> list[dict[str, str]]:
    """Stored `[{code, message}]` with each code's sentence from the REASONS registry."""
    out = []
    for r in stored or []:
        if not isinstance(r, Mapping):
            continue
        code = str(r.get("code"))
        known = REASONS.get(code)
        out.append({"code": code, "means": known.means if known else "(a reason this console does not know)",
                    "message": str(r.get("message") or "")})
    return out


def state_sentence(state: str) -> str:
    try:
        return SyncState(state).sentence
    except ValueError:
        return state


def redact(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: ("[hidden]" if any(w in str(k).lower() for w in _SECRET_WORDS) else redact(v))
                for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [redact(v) for v in value]
    return value


def pretty_json(value: Any) -> str:
    return json.dumps(jsonable(redact(value)), indent=2, ensure_ascii=False, sort_keys=True)


FILTERS = {"age": age, "when": when, "money": money, "duration": duration, "reasons": reasons,
           "state_sentence": state_sentence, "pretty_json": pretty_json}
