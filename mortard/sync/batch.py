"""Batching: how far past the planner's next step one journal write can reach.

The planner returns the next step only (lines, then taxes, then payments, then "open", then the
invoice...). Each journal write costs a Postgres round trip before the first request it covers, so
the machine asks here how far it can see: the step is applied to a copy of the mirror with stand-in
ids for whatever Heartland will create, and the planner asked again, until it needs a read or
reaches the end.

- `actions`: the steps that can be sent now: the first, and those after it that need none of the
  stand-in ids (the invoice lines need the invoice's id, so they wait; "open" and the invoice itself
  don't, so they ride with the lines).
- `ahead`: the steps after those, planned with stand-in ids. They can't be sent as planned, but they
  can be journaled now: once the real ids are in, the planner plans them again, and if it plans the
  same kinds of mutation in the same order they go out under the rows written now (sync/journal.py).
  A new order is journaled in two writes this way: its creation (sync/overlap.py), then lines to invoice.

Pure: the same inputs give the same batch, and `actions` holds only what the planner would plan
exactly once the batch's real answers are in (nothing in it depends on an id it can't know yet).
"""
from __future__ import annotations

from collections.abc import Collection, Iterator
from dataclasses import dataclass, is_dataclass
from itertools import count

from mortard.sync.actions import Action, AddLine, Plan, UpdateLine
from mortard.sync.apply import apply_result
from mortard.sync.model import Mirror, Stock, evolve
from mortard.sync.model.values import field_names
from mortard.sync.plan import PlanInput, plan

MAX_STEPS = 16         # planner steps looked at for one batch (a new order takes about ten)
MAX_ACTIONS = 64       # and requests, so one journal write stays small


@dataclass(frozen=True, slots=True)
class Batch:
    actions: tuple[Action, ...]        # send now, in order
    ahead: tuple[Action, ...] = ()     # journal now; planned with stand-in ids, sent once re-planned


def batch(inp: PlanInput, first: Plan, *, only: Collection[str] | None = None) -> Batch:
    """`first.actions` (all mutations), extended by the steps that can be sent or journaled with them;
    with `only`, just by the next steps of those kinds that can be sent now (nothing ahead)."""
    actions = list(first.actions)
    ahead: list[Action] = []
    stand_ins: set[int] = set()
    ids = count(-1, -1)     # Heartland's ids are positive
    mirror = _apply(inp.mirror, first.actions, ids, stand_ins, inp)
    stock = _less(inp.stock, routed_units(first.actions, inp.mirror))
    for _ in range(MAX_STEPS - 1):
        following = plan(evolve(inp, mirror=mirror, stock=stock))
        step = following.actions
        if not step or not all(a.mutation for a in step) or len(actions) + len(ahead) + len(step) > MAX_ACTIONS:
            break
        if only is not None and (any(a.kind not in only for a in step) or any(_mentions(a, stand_ins) for a in step)):
            break
        if ahead or any(_mentions(a, stand_ins) for a in step):
            ahead += step     # from the first step that needs a stand-in on, everything waits
        else:
            actions += step
        stock = _less(stock, routed_units(step, mirror))
        mirror = _apply(mirror, step, ids, stand_ins, inp)
    return Batch(tuple(actions), tuple(ahead))


def routed_units(actions: tuple[Action, ...] | list[Action], mirror: Mirror) -> dict[tuple[int, int], int]:
    """(item, location) -> units these actions place at a location: new lines, and undistributed
    lines given a location. Both take stock, so later steps (of this batch, or of the same run) must
    not route those units again."""
    out: dict[tuple[int, int], int] = {}
    for a in actions:
        if isinstance(a, AddLine) and a.location_id is not None:
            unit, qty = (a.item_id, a.location_id), a.qty
        elif isinstance(a, UpdateLine) and a.location_id is not None:
            line = next((ln for ln in mirror.lines if ln.id == a.line_id), None)
            if line is None or line.location_id == a.location_id:
                continue
            unit, qty = (line.item_id, a.location_id), (line.qty if a.qty is None else a.qty) - line.qty_invoiced
        else:
            continue
        if qty > 0:
            out[unit] = out.get(unit, 0) + qty
    return out


def _apply(mirror: Mirror, actions: tuple[Action, ...], ids: Iterator[int], stand_ins: set[int],
           inp: PlanInput) -> Mirror:
    for a in actions:
        stand_in = next(ids)
        stand_ins.add(stand_in)
        mirror = apply_result(mirror, a, stand_in, inp.dialect)
    return mirror


def _less(stock: Stock | None, taken: dict[tuple[int, int], int]) -> Stock | None:
    if stock is None or not taken:
        return stock
    out = dict(stock)
    for unit, qty in taken.items():
        out[unit] = out.get(unit, 0) - qty
    return out


def _mentions(action: Action, stand_ins: set[int]) -> bool:
    """Whether any number in the action is a stand-in id. A negative quantity that happens to equal
    one only ends the batch early, which is safe."""
    return _holds(action, stand_ins)


def _holds(value: object, stand_ins: set[int]) -> bool:
    kind = type(value)
    if kind is int:
        return value in stand_ins
    if kind is tuple or kind is list:
        return any(_holds(v, stand_ins) for v in value)  # type: ignore[attr-defined]
    if kind is dict:
        return any(_holds(v, stand_ins) for v in value.values())  # type: ignore[attr-defined]
    if is_dataclass(value) and not isinstance(value, type):
        return any(_holds(getattr(value, n), stand_ins) for n in field_names(type(value)))
    return False
