"""Carrying out one planned mutation: send it through the Heartland port, record what it answered.

The journal row was written before the request leaves (`RunJournal.begin`), so a crash at any point
leaves evidence: a row still `sent` (or `ambiguous` after a timeout) makes the next attempt read
Heartland first (`sync/recovery.py`) instead of sending a create again.
"""
from __future__ import annotations

import asyncio
from collections.abc import Sequence

from mortard.heartland_contract.dialect import Dialect
from mortard.heartland_contract.errors import HeartlandAmbiguous, HeartlandError
from mortard.sync.actions import Action
from mortard.sync.apply import apply_result
from mortard.sync.journal import RunJournal
from mortard.sync.model import Mirror
from mortard.sync.ports import HeartlandPort


async def execute(heartland: HeartlandPort, journal: RunJournal, dialect: Dialect, mirror: Mirror,
                  action: Action, journal_id: int) -> Mirror:
    """Send one journaled mutation and return the mirror with its effect; raises the port's errors.
    The answer is buffered in `journal` and written with the run's next durable write."""
    try:
        new_id, document = await heartland.send(mirror, action)
    except HeartlandAmbiguous as exc:
        journal.failed(journal_id, ambiguous=True, error=str(exc), http_status=exc.status, action=action)
        raise
    except HeartlandError as exc:
        journal.failed(journal_id, ambiguous=False, error=str(exc), http_status=exc.status,
                       response={"error": exc.code, "message": exc.message, "details": exc.details}, action=action)
        raise
    journal.answered(journal_id, new_id, document, action)
    return apply_result(mirror, action, new_id, dialect)


# Mutations of one step that don't depend on each other's answers and leave Heartland the same in
# any order: a new order's lines, taxes and payments; an invoice's lines. Each has its own journal
# row, durable before any of them leaves, so a crash mid-flight leaves rows `sent` that recovery
# settles one by one, as it would for one request.
CONCURRENT_KINDS = frozenset({"add_line", "add_tax", "add_payment", "add_invoice_line"})


def concurrent_groups(actions: Sequence[Action]) -> list[tuple[int, int]]:
    """[start, end) runs of `actions` to send together: consecutive CONCURRENT_KINDS on the same
    document, no two lines of one item (Heartland matches invoice lines to order lines by item, in
    the order they come, and recovery matches lines by item: their order matters), else one each."""
    groups: list[tuple[int, int]] = []
    i = 0
    while i < len(actions):
        j = i + 1
        if actions[i].kind in CONCURRENT_KINDS:
            doc = _document(actions[i])
            items = {getattr(actions[i], "item_id", None)} - {None}
            while j < len(actions) and actions[j].kind in CONCURRENT_KINDS and _document(actions[j]) == doc:
                item = getattr(actions[j], "item_id", None)
                if item is not None and item in items:
                    break
                items.add(item)
                j += 1
        groups.append((i, j))
        i = j
    return groups


def _document(action: Action) -> tuple[str, int | None]:
    if action.kind == "add_invoice_line":
        return "invoice", getattr(action, "invoice_id", None)
    return "order", getattr(action, "order_id", None)


async def execute_together(heartland: HeartlandPort, journal: RunJournal, dialect: Dialect, mirror: Mirror,
                           actions: Sequence[Action],
                           journal_ids: Sequence[int]) -> tuple[Mirror, HeartlandError | None, Action | None]:
    """Send journaled, independent mutations at once (the account's limits still apply to each
    request); the mirror gets every answer, in planned order. Returns the failure that decides what
    happens next (the first ambiguous one, else the first) and its mutation instead of raising it,
    so the answers that did come are kept."""
    if len(actions) == 1:
        try:
            return await execute(heartland, journal, dialect, mirror, actions[0], journal_ids[0]), None, None
        except HeartlandError as exc:
            return mirror, exc, actions[0]
    answers = await asyncio.gather(*(heartland.send(mirror, a) for a in actions), return_exceptions=True)
    failure: BaseException | None = None
    failed: Action | None = None
    for action, journal_id, answer in zip(actions, journal_ids, answers):
        if isinstance(answer, HeartlandAmbiguous):
            journal.failed(journal_id, ambiguous=True, error=str(answer), http_status=answer.status, action=action)
        elif isinstance(answer, HeartlandError):
            journal.failed(journal_id, ambiguous=False, error=str(answer), http_status=answer.status,
                           response={"error": answer.code, "message": answer.message, "details": answer.details},
                           action=action)
        elif isinstance(answer, BaseException):
            pass   # not Heartland's answer (a bug, a cancel): the row stays `sent`, recovery reads Heartland
        else:
            new_id, document = answer
            journal.answered(journal_id, new_id, document, action)
            mirror = apply_result(mirror, action, new_id, dialect)
            continue
        # An outcome unknown outweighs a definite failure: Heartland must be read again before the
        # next plan (a 429 on a line must not hide a payment that may have landed).
        if failure is None or (isinstance(answer, HeartlandAmbiguous) and not isinstance(failure, HeartlandAmbiguous)):
            failure, failed = answer, action
    if failure is not None and not isinstance(failure, HeartlandError):
        raise failure
    return mirror, failure, failed
