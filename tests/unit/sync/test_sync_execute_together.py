"""Independent mutations sent together: every answer kept, and an unknown outcome decides what next."""
from __future__ import annotations

from decimal import Decimal

from mortard.heartland_contract.dialect import DEFAULT_DIALECT
from mortard.heartland_contract.errors import HeartlandAmbiguous, HeartlandRateLimited
from mortard.sync.actions import AddLine, AddPayment, AddTax
from mortard.sync.execute import concurrent_groups, execute_together
from mortard.sync.model import Mirror


class Journal:
    """RunJournal's buffer, as execute_together uses it."""

    def __init__(self) -> None:
        self.ok: list[int] = []
        self.bad: list[tuple[int, bool]] = []

    def answered(self, journal_id, new_id, document, action) -> None:
        self.ok.append(journal_id)

    def failed(self, journal_id, *, ambiguous, **kw) -> None:
        self.bad.append((journal_id, ambiguous))


class Port:
    def __init__(self, answers) -> None:
        self.answers = answers

    async def send(self, mirror, action):
        answer = self.answers[type(action)]
        if isinstance(answer, Exception):
            raise answer
        return answer, None


def _line(n: int) -> AddLine:
    return AddLine(order_id=7, shopify_line_id=n, item_id=100 + n, qty=1, unit_price=Decimal("5.00"),
                   original_price=Decimal("5.00"), location_id=2, description=f"line {n}")


def test_lines_taxes_and_payments_of_one_order_go_together_and_other_steps_alone():
    a = [_line(1), _line(2), AddTax(7, Decimal("0.80")), AddPayment(7, Decimal("10.80"), 3)]
    assert concurrent_groups(a) == [(0, 4)]
    assert concurrent_groups([a[0], AddTax(8, Decimal("1.00"))]) == [(0, 1), (1, 2)]
    # two lines of one item go one after the other: Heartland matches by item, in arrival order
    assert concurrent_groups([_line(1), _line(2), _line(1), AddTax(7, Decimal("0.80"))]) == [(0, 2), (2, 4)]


async def test_a_rate_limited_line_does_not_hide_a_payment_whose_outcome_is_unknown():
    ambiguous = HeartlandAmbiguous("POST payments: outcome unknown", status=None)
    limited = HeartlandRateLimited("429", retry_after=1.0, status=429)
    journal = Journal()
    port = Port({AddLine: limited, AddTax: 41, AddPayment: ambiguous})
    actions = [_line(1), AddTax(7, Decimal("0.80")), AddPayment(7, Decimal("10.80"), 3)]
    mirror, failure, failed = await execute_together(port, journal, DEFAULT_DIALECT, Mirror(order_id=7),
                                                     actions, [1, 2, 3])
    assert failure is ambiguous and failed == actions[2]
    assert journal.ok == [2] and sorted(journal.bad) == [(1, False), (3, True)]
    assert mirror.tax_total == Decimal("0.80")
