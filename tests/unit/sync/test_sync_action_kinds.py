"""Every mutation kind is handled everywhere it must be: its mirror rule (sync/apply.py), its
Heartland request (heartland/gateway.py) and its line of text for operators (operator/diff.py)."""
from __future__ import annotations

from mortard.heartland.gateway import SENDERS
from mortard.operator.diff import TEXTS
from mortard.sync.actions import MUTATIONS, Action
from mortard.sync.apply import RULES


def test_the_mutation_list_is_every_mutating_action():
    assert len(MUTATIONS) == len(set(MUTATIONS)) >= 14
    assert all(issubclass(c, Action) and c.mutation for c in MUTATIONS)


def test_every_mutation_has_a_mirror_rule_a_request_and_a_line_of_text():
    assert set(RULES) == set(MUTATIONS)
    assert set(SENDERS) == set(MUTATIONS)
    assert set(TEXTS) == {c.kind for c in MUTATIONS}
