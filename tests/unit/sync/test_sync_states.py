"""States and reason codes are declared once (sync/states.py), and every reason the code gives is one."""
from __future__ import annotations

import re
from pathlib import Path

from mortard.ops.metrics import ORDER_STATES
from mortard.operator._db import STATES
from mortard.sync import plan
from mortard.sync.states import REASONS, SyncState

PACKAGE = Path(__file__).resolve().parents[3] / "mortard"
_REASON = re.compile(r'Reason\(\s*"([a-z_]+)"')


def reasons_in_sources() -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for path in PACKAGE.rglob("*.py"):
        for code in _REASON.findall(path.read_text()):
            found.setdefault(code, []).append(str(path.relative_to(PACKAGE)))
    return found


def test_every_reason_the_code_gives_is_declared_with_its_state_and_meaning():
    used = reasons_in_sources()
    assert len(used) >= 20, "the scan found too few reasons: is the pattern broken?"
    undeclared = {code: where for code, where in used.items() if code not in REASONS}
    assert not undeclared, f"declare these in sync/states.py REASONS: {undeclared}"
    assert all(r.means and r.code == code for code, r in REASONS.items())


def test_the_states_are_spelled_once():
    values = [s.value for s in SyncState]
    assert list(STATES) == values and list(ORDER_STATES) == values
    assert {plan.RECEIVED, plan.CREATING, plan.OPEN, plan.INVOICED, plan.WAITING_STOCK, plan.PENDING,
            plan.FAILED, plan.DEAD, plan.CANCELLED, plan.IGNORED} == set(SyncState)
    assert all(s.sentence for s in SyncState)
