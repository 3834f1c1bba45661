"""RunJournal: a batch costs one small write; answers wait, with their mirror, for a write that
stores both (a lease renewal, a refresh, the finish)."""
from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from mortard.sync.actions import AddTax, SetStatus
from mortard.sync.journal import OK, RESOLVED, UNSENT, RunJournal
from mortard.sync.model import Mirror


@dataclass
class Store:
    lease_s: float = 60.0
    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    next_id: int = 0

    def _ids(self, n: int) -> list[int]:
        self.next_id += n
        return list(range(self.next_id - n + 1, self.next_id + 1))

    async def journal(self, shop, order_id, planned):
        self.calls.append(("journal", {"planned": [p.action for p in planned]}))
        return self._ids(len(planned))

    async def record(self, shop, order_id, **kw):
        self.calls.append(("record", kw))
        return self._ids(len(kw["planned"]))


class Clock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


async def test_batches_within_a_third_of_the_lease_write_only_their_rows():
    store, clock = Store(), Clock()
    j = RunJournal(store, "shop", 1, clock=clock)
    m = Mirror(order_id=5, status="pending")
    ids = await j.begin([AddTax(5, "Tax", Decimal("1.00"))], m)
    j.answered(ids[0], 77, None)
    clock.t += 19.9
    (sid,) = await j.begin([SetStatus(5, "open")], m)
    assert [c[0] for c in store.calls] == ["journal", "journal"]
    assert [o.status for o in j.pending] == [OK] and sid == 2


async def test_past_a_third_of_the_lease_the_batch_renews_it_and_stores_answers_with_their_mirror():
    store, clock = Store(), Clock()
    j = RunJournal(store, "shop", 1, clock=clock)
    m = Mirror(order_id=5, status="pending")
    (a,) = await j.begin([SetStatus(5, "open")], m)
    j.answered(a, None, None)
    clock.t += 20.5
    (b,) = await j.begin([SetStatus(5, "open")], m)
    kind, kw = store.calls[-1]
    assert kind == "record" and kw["mirror"] == m.to_json() and [o.journal_id for o in kw["outcomes"]] == [a]
    assert kw["planned"][0].action == "set_status" and j.pending == []
    clock.t += 5   # renewed: the next batch is small again
    j.unsent([b])
    await j.begin([SetStatus(5, "open")], m)
    assert store.calls[-1][0] == "journal" and [o.status for o in j.pending] == [UNSENT]


async def test_a_refresh_settles_open_rows_and_keeps_answers():
    store, clock = Store(), Clock()
    j = RunJournal(store, "shop", 1, clock=clock)
    a, b = await j.begin([SetStatus(5, "open"), SetStatus(5, "open")], Mirror(order_id=5))
    j.answered(a, None, None)
    j.failed(b, ambiguous=True, error="timeout", http_status=None)
    assert j.has_ambiguous
    await j.resolve(Mirror(order_id=5, status="open"))
    kind, kw = store.calls[-1]
    assert kind == "record" and kw["resolve"] and kw["mirror_dirty"] is False
    assert [(o.journal_id, o.status) for o in kw["outcomes"]] == [(a, OK), (b, RESOLVED)]


async def test_rows_written_ahead_carry_later_batches_and_record_what_was_really_sent():
    store, clock = Store(), Clock()
    j = RunJournal(store, "shop", 1, clock=clock)
    m = Mirror(order_id=5, status="pending")
    planned_open = SetStatus(-3, "open")           # planned with a stand-in order id
    (tax,) = await j.begin([AddTax(5, "Tax", Decimal("1.00"))], m, ahead=[planned_open, SetStatus(-3, "open")])
    assert [c[0] for c in store.calls] == ["journal"] and len(store.calls[0][1]["planned"]) == 3
    j.answered(tax, None, None, AddTax(5, "Tax", Decimal("1.00")))
    (first,) = await j.begin([SetStatus(5, "open")], m)          # same kind as the row ahead: no write
    assert len(store.calls) == 1 and first == tax + 1
    j.answered(first, None, None, SetStatus(5, "open"))
    assert j.pending[0].sent is None                             # written as sent
    assert j.pending[1].sent is not None and '"order_id":5' in j.pending[1].sent.request
    (other,) = await j.begin([AddTax(5, "Tax", Decimal("2.00"))], m)   # not what was planned ahead
    assert store.calls[-1][0] == "journal" and other == tax + 3
    assert [(o.journal_id, o.status) for o in j.pending[-1:]] == [(tax + 2, UNSENT)]


async def test_rows_written_ahead_and_never_used_end_as_unsent_at_the_finish():
    store, clock = Store(), Clock()
    j = RunJournal(store, "shop", 1, clock=clock)
    (a,) = await j.begin([SetStatus(5, "open")], Mirror(order_id=5), ahead=[AddTax(-1, "Tax", Decimal("1.00"))])
    j.answered(a, None, None, SetStatus(5, "open"))
    assert [(o.journal_id, o.status) for o in j.take()] == [(a, OK), (a + 1, UNSENT)]
    assert j.take() == [] and not j.ahead


async def test_a_refresh_keeps_the_request_really_sent_under_a_row_written_ahead():
    store, clock = Store(), Clock()
    j = RunJournal(store, "shop", 1, clock=clock)
    (a,) = await j.begin([SetStatus(5, "open")], Mirror(order_id=5), ahead=[SetStatus(-1, "open")])
    j.answered(a, None, None, SetStatus(5, "open"))
    (b,) = await j.begin([SetStatus(5, "open")], Mirror(order_id=5))     # the row written ahead
    j.failed(b, ambiguous=True, error="timeout", http_status=None, action=SetStatus(5, "open"))
    await j.resolve(Mirror(order_id=5, status="open"))
    (_, kw) = store.calls[-1]
    (settled,) = [o for o in kw["outcomes"] if o.journal_id == b]
    assert settled.status == RESOLVED and settled.sent is not None and '"order_id":5' in settled.sent.request
