"""The mutation journal as one order run writes it: durable before a request leaves, cheap after.

A journal row must be durable before its request is sent; that is the crash-safety rule. What
Heartland answered need not be: if it is lost in a crash the row is still `sent`, and the next run
reads Heartland before it plans (`read_mirror`). So answers wait here, in memory, together with the
mirror they produced, and are written with it when the run ends (the finish), when Heartland is
re-read, or when the order's lease is renewed. A journal write is one small statement (the rows,
under a lease check) and leaves the order's row alone.

Rows may also be written ahead: the steps `sync/batch.py` planned past the ones it can send now
(with stand-in ids for what Heartland has yet to create) are journaled in the same write. When the
planner later plans those same kinds of mutation in the same order, they are sent under those rows,
and the answer records the request as it was really sent; if it plans something else, the rows
written ahead are marked `unsent` and the new step is journaled as usual. A new order's dozen
mutations thus cost two journal writes instead of five or more (its creation, while its stock is
read: sync/overlap.py; then lines to invoice). Every request still has its row before it leaves.
"""
from __future__ import annotations

import hashlib
import itertools
import json
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from mortard.sync.actions import Action
from mortard.sync.model import Mirror
from mortard.sync.ports import JournalEntry

# Journal row statuses (journal.status). `unsent`: journaled with its batch, never sent, because an
# earlier mutation of the same batch failed.
SENT, OK, FAILED, AMBIGUOUS, UNSENT, RESOLVED = "sent", "ok", "failed", "ambiguous", "unsent", "resolved"


@dataclass(frozen=True, slots=True)
class Planned:
    """A mutation about to be sent: what the journal row says."""

    action: str
    fingerprint: str
    request: str   # canonical JSON text of the request, written to jsonb as it is


# What json.dumps(sort_keys=True, separators=(",", ":"), default=str) writes, without building an
# encoder for every row (a new order journals about twenty).
_canonical = json.JSONEncoder(sort_keys=True, separators=(",", ":"), default=str).encode


def planned(action: Action) -> Planned:
    # Canonical (sorted) JSON both fingerprints the request and is the row's body: encoded once.
    text = _canonical(action.describe())
    return Planned(action.kind, hashlib.sha256(text.encode()).hexdigest()[:16], text)


@dataclass(frozen=True, slots=True)
class Outcome:
    """What became of a journaled mutation; `document` is a Heartland record worth listing
    (heartland_documents: customer, order, payment, invoice, ticket)."""

    journal_id: int
    status: str
    heartland_id: int | None = None
    http_status: int | None = None
    error: str | None = None
    response: Any = None
    document: dict[str, Any] | None = None
    sent: Planned | None = None   # the request as sent, for a row written ahead with stand-in ids


class JournalStore(Protocol):
    lease_s: float

    async def journal(self, shop: str, order_id: int, planned: list[Planned]) -> list[int]: ...

    async def record(self, shop: str, order_id: int, *, outcomes: list[Outcome], planned: list[Planned],
                     mirror: dict[str, Any] | None, heartland_order_id: int | None,
                     mirror_dirty: bool | None, resolve: bool) -> list[int]: ...


@dataclass
class RunJournal:
    """One order run's view of its journal: answers buffered, with their mirror, until it is written."""

    store: JournalStore
    shop: str
    order_id: int
    clock: Callable[[], float] = time.monotonic
    pending: list[Outcome] = field(default_factory=list)
    leased_at: float = field(default=0.0)   # when the lease was last taken or renewed
    # Rows written ahead and not yet used: (mutation kind, journal id), in planned order.
    ahead: deque[tuple[str, int]] = field(default_factory=deque)
    _written_ahead: set[int] = field(default_factory=set)

    def __post_init__(self) -> None:
        self.leased_at = self.clock()   # runs start right after the claim

    async def begin(self, actions: Sequence[Action], mirror: Mirror, ahead: Sequence[Action] = ()) -> list[int]:
        """Journal ids for `actions`, durable before any of them is sent: rows written ahead when
        they match, else a new write (with `ahead` journaled too). Raises LeaseLost."""
        renew = self.clock() - self.leased_at >= self.store.lease_s / 3
        kinds = [a.kind for a in actions]
        if len(self.ahead) >= len(kinds) and [k for k, _ in itertools.islice(self.ahead, len(kinds))] == kinds:
            if renew:
                await self._write([], mirror)
            return [self.ahead.popleft()[1] for _ in kinds]
        self._drop_ahead()
        rows = [planned(a) for a in (*actions, *ahead)]
        if renew:   # a third of the lease gone: renew it, and store the mirror
            ids = await self._write(rows, mirror)
        else:
            ids = await self.store.journal(self.shop, self.order_id, rows)
        now, later = ids[:len(actions)], ids[len(actions):]
        self.ahead.extend(zip((a.kind for a in ahead), later))
        self._written_ahead.update(later)
        return now

    async def resolve(self, mirror: Mirror, found: Mapping[int, int] | None = None,
                      documents: Mapping[int, dict[str, Any]] | None = None) -> None:
        """Heartland was re-read: every open row is accounted for by `mirror`. `found`: rows whose
        create the re-read found landed (journal id -> Heartland id), with their `documents`."""
        self._drop_ahead()
        found, documents = dict(found or {}), documents or {}
        out = []
        for o in self.pending:
            if o.journal_id in found:
                o = replace(o, heartland_id=found.pop(o.journal_id), document=documents.get(o.journal_id) or o.document)
            out.append(replace(o, status=RESOLVED) if o.status in (SENT, AMBIGUOUS) else o)
        out += [Outcome(j, RESOLVED, ident, document=documents.get(j)) for j, ident in found.items()]
        self.pending = out
        await self._write([], mirror, resolve=True)

    def overlay(self, entries: Sequence[JournalEntry]) -> list[JournalEntry]:
        """The journal as stored, with this run's answers not written yet laid over it."""
        mine = {o.journal_id: o for o in self.pending}
        out = []
        for e in entries:
            o = mine.get(e.id)
            if o is not None:
                e = replace(e, status=o.status, heartland_id=o.heartland_id if o.heartland_id is not None else e.heartland_id)
            out.append(e)
        return out

    def answered(self, journal_id: int, heartland_id: int | None, document: dict[str, Any] | None,
                 action: Action | None = None) -> None:
        self.pending.append(Outcome(journal_id, OK, heartland_id, 201 if heartland_id is not None else 200,
                                    document=document, sent=self._as_sent(journal_id, action)))

    def failed(self, journal_id: int, *, ambiguous: bool, error: str, http_status: int | None,
               response: Any = None, action: Action | None = None) -> None:
        self.pending.append(Outcome(journal_id, AMBIGUOUS if ambiguous else FAILED, None, http_status,
                                    error[:2000], response, sent=self._as_sent(journal_id, action)))

    def unsent(self, journal_ids: list[int]) -> None:
        self.pending += [Outcome(j, UNSENT) for j in journal_ids]

    def take(self) -> list[Outcome]:
        """Hand the pending answers to a write that records them (the order's finish); rows written
        ahead that were never used are recorded as unsent with them."""
        self._drop_ahead()
        out, self.pending = self.pending, []
        return out

    @property
    def has_ambiguous(self) -> bool:
        return any(o.status == AMBIGUOUS for o in self.pending)

    def _as_sent(self, journal_id: int, action: Action | None) -> Planned | None:
        # Only a row written ahead holds stand-in ids; any other holds exactly what was sent.
        return planned(action) if action is not None and journal_id in self._written_ahead else None

    def _drop_ahead(self) -> None:
        self.unsent([j for _, j in self.ahead])
        self.ahead.clear()

    async def _write(self, rows: list[Planned], mirror: Mirror, *, resolve: bool = False) -> list[int]:
        outcomes = self.pending
        self.leased_at = self.clock()
        ids = await self.store.record(
            self.shop, self.order_id, outcomes=outcomes, planned=rows, mirror=mirror.to_json(),
            heartland_order_id=mirror.order_id,
            mirror_dirty=False if resolve else (True if self.has_ambiguous else None), resolve=resolve)
        self.pending = []
        return ids
