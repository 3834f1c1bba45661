"""The mutation journal as one order run writes it: durable before a request leaves, cheap after.

A journal row must be durable before its request is sent; that is the crash-safety rule. What
Heartland answered need not be: if it is lost in a crash the row is still `sent`, and the next run
reads Heartland before it plans (`read_mirror`). So answers wait here, in memory, together with the
mirror they produced, and are written with it when the run ends (the finish), when Heartland is
re-read, or when the order's lease is renewed. Each batch in between costs one small statement (its
journal rows, under a lease check) and leaves the order's row alone: one round trip per batch instead
of two per mutation, and a fifth of the row rewrites (bench/pipeline.py).
"""
from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from mortard.sync.actions import Action
from mortard.sync.model import Mirror

# Journal row statuses (journal.status). `unsent`: journaled with its batch, never sent, because an
# earlier mutation of the same batch failed.
SENT, OK, FAILED, AMBIGUOUS, UNSENT, RESOLVED = "sent", "ok", "failed", "ambiguous", "unsent", "resolved"


@dataclass(frozen=True, slots=True)
class Planned:
    """A mutation about to be sent: what the journal row says."""

    action: str
    fingerprint: str
    request: str   # canonical JSON text of the request, written to jsonb as it is


def planned(action: Action) -> Planned:
    # Canonical (sorted) JSON both fingerprints the request and is the row's body: encoded once.
    text = json.dumps(action.describe(), sort_keys=True, separators=(",", ":"), default=str)
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

    def __post_init__(self) -> None:
        self.leased_at = self.clock()   # runs start right after the claim

    async def begin(self, actions: tuple[Action, ...] | list[Action], mirror: Mirror) -> list[int]:
        """Journal a batch before it is sent. Raises LeaseLost."""
        rows = [planned(a) for a in actions]
        if self.clock() - self.leased_at < self.store.lease_s / 3:
            return await self.store.journal(self.shop, self.order_id, rows)
        return await self._write(rows, mirror)   # a third of the lease gone: renew it, and store the mirror

    async def resolve(self, mirror: Mirror) -> None:
        """Heartland was re-read: every open row is accounted for by `mirror`."""
        self.pending = [replace_status(o, RESOLVED) if o.status in (SENT, AMBIGUOUS) else o for o in self.pending]
        await self._write([], mirror, resolve=True)

    def answered(self, journal_id: int, heartland_id: int | None, document: dict[str, Any] | None) -> None:
        self.pending.append(Outcome(journal_id, OK, heartland_id, 201 if heartland_id is not None else 200,
                                    document=document))

    def failed(self, journal_id: int, *, ambiguous: bool, error: str, http_status: int | None,
               response: Any = None) -> None:
        self.pending.append(Outcome(journal_id, AMBIGUOUS if ambiguous else FAILED, None, http_status,
                                    error[:2000], response))

    def unsent(self, journal_ids: list[int]) -> None:
        self.pending += [Outcome(j, UNSENT) for j in journal_ids]

    def take(self) -> list[Outcome]:
        """Hand the pending answers to a write that records them (the order's finish)."""
        out, self.pending = self.pending, []
        return out

    @property
    def has_ambiguous(self) -> bool:
        return any(o.status == AMBIGUOUS for o in self.pending)

    async def _write(self, rows: list[Planned], mirror: Mirror, *, resolve: bool = False) -> list[int]:
        outcomes = self.pending
        self.leased_at = self.clock()
        ids = await self.store.record(
            self.shop, self.order_id, outcomes=outcomes, planned=rows, mirror=mirror.to_json(),
            heartland_order_id=mirror.order_id,
            mirror_dirty=False if resolve else (True if self.has_ambiguous else None), resolve=resolve)
        self.pending = []
        return ids


def replace_status(o: Outcome, status: str) -> Outcome:
    return Outcome(o.journal_id, status, o.heartland_id, o.http_status, o.error, o.response, o.document)
