"""The lines of an editable order: add what Shopify wants more of (routed to stock), take off what it
wants less of, and place undistributed lines.
"""
from __future__ import annotations

from collections.abc import Mapping

from mortard.sync.actions import Action, AddLine, DeleteLine, LoadStock, Plan, UpdateLine
from mortard.sync.model import Item, ShopifyLine
from mortard.sync.money import PriceGroup, unit_price_groups
from mortard.sync.plan.inputs import CREATING, PlanInput, desired_qty
from mortard.sync.plan.returns import Returns
from mortard.sync.routing import LineDemand, allowed_locations, route


def plan_lines(inp: PlanInput, items: Mapping[int, Item | None], ret: Returns | None = None) -> Plan | None:
    o, m = inp.order, inp.mirror
    assert m.order_id is not None
    editable = m.status in (inp.dialect.status_pending, inp.dialect.status_open)
    if not editable:
        return None
    additions: list[tuple[ShopifyLine, Item, tuple[PriceGroup, ...]]] = []
    for ln in o.lines:
        item = items.get(ln.id)
        want = desired_qty(o, ln)
        have_lines = m.lines_for(ln.id)
        have = sum(h.qty for h in have_lines)
        if item is None:
            continue
        if want > have:
            groups = unit_price_groups(ln.price, ln.quantity, ln.discount)
            additions.append((ln, item, units_after(groups, have, want - have)))
        elif want < have:
            shrink = _shrink(m.order_id, have_lines, have - want, inp.dialect.line_delete_supported)
            if shrink:
                return Plan(tuple(shrink), state=CREATING)
    wanted_ids = {ln.id for ln in o.lines}
    orphan = [h for h in m.lines if h.shopify_line_id not in wanted_ids and h.qty > h.qty_invoiced]
    if orphan:
        return Plan(tuple(_shrink(m.order_id, (orphan[0],), orphan[0].qty - orphan[0].qty_invoiced,
                                  inp.dialect.line_delete_supported)), state=CREATING)

    undistributed = [h for h in m.lines if h.location_id is None and h.qty_invoiced == 0 and h.qty > 0]
    if not additions and not undistributed:
        return None
    tracked_ids = sorted({it.id for _, it, _ in additions if it.track_inventory} |
                         {h.item_id for h in undistributed})
    if inp.stock is None:
        return Plan((LoadStock(tuple(tracked_ids)),), state=CREATING)

    candidates = allowed_locations(inp.settings, inp.catalog, o.tags)
    demands = [LineDemand(ln.id, it.id, sum(g.qty for g in groups), it.track_inventory, ln.location_id)
               for ln, it, groups in additions]
    # An undistributed Shopify line may be several Heartland lines (one per price group); without
    # splitting they move together, so one Shopify line never ends up partly placed.
    moving: dict[int, list] = {}
    for h in undistributed:
        group = h.id if inp.settings.allow_split else next(
            u.id for u in undistributed if (u.shopify_line_id, u.item_id) == (h.shopify_line_id, h.item_id))
        moving.setdefault(-group, []).append(h)
    demands += [LineDemand(key, hs[0].item_id, sum(h.qty for h in hs), True, None) for key, hs in moving.items()]
    allocations = route(demands, inp.stock, candidates, inp.settings, inp.catalog, o.location_id)

    actions: list[Action] = []
    for ln, it, groups in additions:
        mine = [a for a in allocations if a.key == ln.id]
        for group, loc, qty in split_groups(groups, [(a.location_id, a.qty) for a in mine]):
            actions.append(AddLine(m.order_id, ln.id, it.id, qty, group.unit_price, ln.price, loc, ln.title))
    for key, hs in moving.items():
        mine = [a for a in allocations if a.key == key and a.location_id is not None]
        if len(mine) == 1 and mine[0].qty == sum(h.qty for h in hs):
            actions.extend(UpdateLine(m.order_id, h.id, location_id=mine[0].location_id) for h in hs)
    return Plan(tuple(actions), state=CREATING) if actions else None


def units_after(groups: tuple[PriceGroup, ...], skip: int, qty: int) -> tuple[PriceGroup, ...]:
    out = []
    for g in groups:
        if skip >= g.qty:
            skip -= g.qty
            continue
        n = min(g.qty - skip, qty)
        skip = 0
        if n > 0:
            out.append(PriceGroup(n, g.unit_price))
            qty -= n
    return tuple(out)


def split_groups(groups: tuple[PriceGroup, ...], allocs: list[tuple[int | None, int]]):
    """Pair price groups with location allocations unit by unit: (group, location, qty) runs."""
    gi, ai = 0, 0
    g_left = groups[0].qty if groups else 0
    a_left = allocs[0][1] if allocs else 0
    while gi < len(groups) and ai < len(allocs):
        n = min(g_left, a_left)
        if n:
            yield groups[gi], allocs[ai][0], n
        g_left -= n
        a_left -= n
        if g_left == 0:
            gi += 1
            g_left = groups[gi].qty if gi < len(groups) else 0
        if a_left == 0:
            ai += 1
            a_left = allocs[ai][1] if ai < len(allocs) else 0


def _shrink(order_id: int, lines, units: int, can_delete: bool) -> list[Action]:
    """Take `units` off uninvoiced quantities: undistributed lines first, then the newest lines."""
    out: list[Action] = []
    for h in sorted(lines, key=lambda h: (h.location_id is not None, -h.id)):
        if units <= 0:
            break
        free = h.qty - h.qty_invoiced
        take = min(free, units)
        if take <= 0:
            continue
        units -= take
        if take == h.qty and h.qty_invoiced == 0 and can_delete:
            out.append(DeleteLine(order_id, h.id))
        else:
            out.append(UpdateLine(order_id, h.id, qty=h.qty - take))
    return out[:1]

