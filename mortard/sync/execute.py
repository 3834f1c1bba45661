"""Carrying out one planned mutation: send it through the Heartland port, record what it answered.

The journal row was written before the request leaves (`RunJournal.begin`), so a crash at any point
leaves evidence: a row still `sent` (or `ambiguous` after a timeout) makes the next attempt read
Heartland first (`sync/recovery.py`) instead of sending a create again.
"""
from __future__ import annotations

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
