"""A new order's creation steps, planned while its stock is being read.

The planner reads stock before it creates anything (plan/workflow.py): routing the lines needs it.
Only the lines do: the customer search, the customer, its addresses and the order itself are planned
from the Shopify order, the mirror and the catalog alone. So the machine sends a new order's stock
read off and goes on with those steps meanwhile, which takes the read (one Heartland round trip after
the item lookup) off the order's critical path: GET /items and GET /inventory/values now run beside
GET /customers → POST /customers → POST .../addresses → POST /sales/orders, not before them.

`creating` asks the planner with no stock at all (`stock={}`), and takes its answer only when it is
one of those steps (`CREATION_KINDS`); anything else (a line, a state) waits for the real read and is
planned again with it. That those steps are the same whatever the stock is, is held by a test
(tests/unit/sync/test_sync_overlap.py). Their journal write (`creation_batch`) reaches only as far
as the order itself; the rest (lines to invoice) is journaled in a second write once the stock is in,
each row still durable before its request leaves.
"""
from __future__ import annotations

from itertools import count

from mortard.sync.actions import LoadStock, Plan
from mortard.sync.apply import apply_result
from mortard.sync.batch import Batch
from mortard.sync.model import evolve
from mortard.sync.plan import PlanInput, plan

# Steps of a new order that no stock decides (plan/create.py).
CREATION_KINDS = frozenset({"find_customer", "create_customer", "add_address", "create_order"})


def reads_stock_first(inp: PlanInput, p: Plan) -> bool:
    """Whether `p` is a new order's stock read, which can go on beside its creation steps."""
    return inp.mirror.order_id is None and not p.converged and isinstance(p.actions[0], LoadStock)


def creating(inp: PlanInput) -> Plan | None:
    """The next step of a new order whose stock is still being read, or None when that step needs
    the stock."""
    if inp.mirror.order_id is not None:
        return None
    p = plan(evolve(inp, stock={}))
    if p.converged or any(a.kind not in CREATION_KINDS for a in p.actions):
        return None
    return p


def creation_batch(inp: PlanInput, first: Plan) -> Batch:
    """`first` (a creation step from `creating`), with the creation steps after it journaled ahead:
    each names the customer or address `first` creates, so all wait to be planned again with the real
    ids (sync/batch.py says how rows written ahead are used)."""
    blind = evolve(inp, stock={})
    ids = count(-1, -1)     # stand-ins: Heartland's ids are positive
    mirror, ahead = inp.mirror, []
    step = first
    for _ in range(len(CREATION_KINDS)):
        for a in step.actions:
            mirror = apply_result(mirror, a, next(ids), inp.dialect)
        step = plan(evolve(blind, mirror=mirror))
        if step.converged or any(a.kind not in CREATION_KINDS or not a.mutation for a in step.actions):
            break
        ahead += step.actions
    return Batch(first.actions, tuple(ahead))
