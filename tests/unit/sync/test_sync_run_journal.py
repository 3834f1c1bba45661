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
