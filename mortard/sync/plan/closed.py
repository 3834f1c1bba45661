"""An order Heartland closed can't be edited: refunds become return tickets, units Shopify added become
sale tickets, and money that has nowhere to go is reported for staff.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal

from mortard.sync.actions import Action, CreateTicket, LoadStock, Plan, Reason, TicketLine
from mortard.sync.model import Item, ShopifyLine
from mortard.sync.money import CENT, ZERO, unit_price_groups
from mortard.sync.plan.inputs import CANCELLED, INVOICED, PENDING, PlanInput, desired_qty, payment_type_for
from mortard.sync.plan.lines import split_groups, units_after
from mortard.sync.plan.returns import Returns, goods_of, returns_of, ticket_for
from mortard.sync.routing import LineDemand, allowed_locations, route


def plan_invoiced(inp: PlanInput, items: Mapping[int, Item | None]) -> Plan:
    """A closed order can't be edited: each Shopify refund not yet on it becomes one return ticket."""
    o, m = inp.order, inp.mirror
    ticketed = {t.refund_id for t in m.tickets}
    ret = returns_of(inp)
    absorbed = _absorbed(inp, ret)
    for refund in o.refunds:
        if refund.id in ticketed:
            continue
        units = ret.by_refund.get(refund.id, {})
        money = refund.amount - absorbed.get(refund.id, ZERO)
        if not units and not money:
            continue    # taken in full by the order while it was open
        # A ticket that carries the whole refund carries its shipping's tax as tax, not as refund-item value.
        ticket = ticket_for(inp, refund, units, money,
                            refund.shipping_tax if not absorbed.get(refund.id) else ZERO)
        if isinstance(ticket, Reason):
            return Plan(state=PENDING, reasons=(ticket,))
        if ticket is not None:
            return Plan((ticket,), state=INVOICED)
    done = CANCELLED if o.cancelled else INVOICED
    reasons: list[Reason] = []
    sales = _plan_sales(inp, items)
    if isinstance(sales, Plan):
        return sales
    if sales:
        return Plan(state=PENDING, reasons=(Reason(
            "addition_to_closed_order",
            f"Shopify added {', '.join(sales)} after Heartland closed the order and no store has them in stock; "
            f"sell them on a ticket or a new order"),))
    if ret.unexplained:
        names = {ln.id: ln.sku or ln.title for ln in o.lines}
        what = ", ".join(f"{names[k]} × {v}" for k, v in sorted(ret.unexplained.items()))
        reasons.append(Reason("return_without_refund",
                              f"{what} no longer on the Shopify order but no refund returns them yet"))
        done = INVOICED
    late = _closed_money_gap(inp)
    if late is not None:
        return Plan(state=PENDING, reasons=(*reasons, late))
    return Plan(state=done, reasons=tuple(reasons))


def _closed_money_gap(inp: PlanInput) -> Reason | None:
    """Once every refund and sale is on a ticket, Heartland (the order's payments and the tickets) holds
    what Shopify does. Money Shopify took later (a sale or capture after Heartland closed the order) has
    nowhere to go on a closed order: say so, with the amounts, for staff to record it by hand."""
    o, m = inp.order, inp.mirror
    received = sum((p.amount for p in o.payments), ZERO)
    shopify = received - o.refunded
    heartland = m.payments_total + sum((t.total for t in m.tickets), ZERO)
    if shopify == heartland:
        return None
    # Money staff took (or gave back) in Heartland by hand is Heartland's (PlanInput.staff_payments):
    # a difference it alone explains was theirs to make, and the watch recorded it (drift).
    staff = [p.amount for p in m.payments if p.id in inp.staff_payments]
    gap = heartland - shopify
    if ZERO < gap <= sum((a for a in staff if a > 0), ZERO) or sum((a for a in staff if a < 0), ZERO) <= gap < ZERO:
        return None
    facts = (f"Shopify holds {shopify} (received {received}, refunded {o.refunded}) and Heartland's closed order "
             f"and tickets hold {heartland}")
    if shopify > heartland:
        return Reason("payment_after_close", f"{facts}: {shopify - heartland} was paid after Heartland closed "
                                             f"the order; record it in Heartland by hand")
    return Reason("money_mismatch_after_close", f"{facts}: Heartland holds {heartland - shopify} more; "
                                                f"staff must balance it")


@dataclass(frozen=True, slots=True)
class _Addition:
    line: ShopifyLine
    item: Item
    have: int       # units already on the order or sold on sale tickets
    qty: int        # units to sell


def _additions(inp: PlanInput, items: Mapping[int, Item | None]) -> list[_Addition]:
    """Units Shopify added to an order Heartland closed: more than its lines and sale tickets hold."""
    o, m = inp.order, inp.mirror
    out = []
    for ln in o.lines:
        item = items.get(ln.id)
        if item is None:
            continue
        have = sum(h.qty for h in m.lines_for(ln.id)) + m.sold_for(ln.id)
        want = desired_qty(o, ln)
        if want > have:
            out.append(_Addition(ln, item, have, want - have))
    return out


def _tax_share(inp: PlanInput, ln: ShopifyLine, start: int, n: int) -> Decimal:
    """Shopify's line tax for units start+1 .. start+n of the line, pro rata; shares of a line add up to it."""
    if inp.order.taxes_included or not ln.quantity:
        return ZERO

    def upto(k: int) -> Decimal:
        return (ln.tax * min(k, ln.quantity) / ln.quantity).quantize(CENT)
    return upto(start + n) - upto(start)


def _plan_sales(inp: PlanInput, items: Mapping[int, Item | None]) -> Plan | list[str]:
    """Units added in Shopify to a closed order are sold on sale tickets, one per store that has them:
    positive item lines at the Shopify unit price (discount allocated), the line tax pro rata, and a
    payment for the total. Returns the plan, or what can't be placed ("SKU × n"; empty: nothing to sell).

    All of an order's sale tickets are planned together from one stock read. Units of an item already
    sold on one of its sale tickets are not routed again: the stock read of the same run still counts
    the units that ticket took, so whatever the first sale couldn't place waits for staff."""
    o, m, s, cat = inp.order, inp.mirror, inp.settings, inp.catalog
    adds = _additions(inp, items)
    if not adds:
        return []
    sold_items = {it.id for t in m.sale_tickets for line_id, _ in t.sold
                  if (it := items.get(line_id)) is not None}
    routable = [a for a in adds if a.item.id not in sold_items]
    unplaced: dict[int, int] = {a.line.id: a.qty for a in adds if a.item.id in sold_items}
    if routable:
        if inp.stock is None:
            return Plan((LoadStock(tuple(sorted({a.item.id for a in routable if a.item.track_inventory}))),),
                        state=INVOICED)
        candidates = allowed_locations(s, cat, o.tags)
        demands = [LineDemand(a.line.id, a.item.id, a.qty, a.item.track_inventory, a.line.location_id)
                   for a in routable]
        allocations = route(demands, inp.stock, candidates, s, cat, o.location_id)
        backorder = cat.locations.get(s.backorder_location or "")
        stations = {loc.id: loc.station_id for loc in candidates}
        lines: dict[int, list[TicketLine]] = {}
        tax: dict[int, Decimal] = {}
        sold: dict[int, dict[int, int]] = {}
        for a in routable:
            ln = a.line
            groups = units_after(unit_price_groups(ln.price, ln.quantity, ln.discount), a.have, a.qty)
            mine = [(x.location_id, x.qty) for x in allocations if x.key == ln.id]
            pos = a.have
            for group, loc, qty in split_groups(groups, mine):
                # A ticket sells from stock at once: a backorder location or a store without a station can't.
                if loc is None or (backorder is not None and loc == backorder.id) or stations.get(loc) is None:
                    unplaced[ln.id] = unplaced.get(ln.id, 0) + qty
                    pos += qty
                    continue
                lines.setdefault(loc, []).append(
                    TicketLine(a.item.id, qty, group.unit_price, f"Sale {ln.id} of {o.name}"))
                tax[loc] = tax.get(loc, ZERO) + _tax_share(inp, ln, pos, qty)
                sold.setdefault(loc, {})[ln.id] = sold.get(loc, {}).get(ln.id, 0) + qty
                pos += qty
        if lines:
            gateway = o.payments[0].gateway if o.payments else ""
            ptid = payment_type_for(gateway, inp)
            if ptid is None:
                return Plan(state=PENDING, reasons=(Reason(
                    "no_payment_type", f"no Heartland payment type for Shopify gateway {gateway!r}"),))
            if m.customer_id is None:
                return Plan(state=PENDING, reasons=(Reason("no_customer", "the Heartland order has no customer"),))
            tickets: list[Action] = []
            for n, loc in enumerate(sorted(lines), start=len(m.sale_tickets) + 1):
                station = stations[loc]
                assert station is not None
                total = sum((ln.unit_price * ln.qty for ln in lines[loc]), tax[loc])
                tickets.append(CreateTicket(None, f"{inp.public_id}-S{n}", m.customer_id, station,
                                            tuple(lines[loc]), tax[loc], total, ptid,
                                            sold=tuple(sorted(sold[loc].items())), location_id=loc))
            return Plan(tuple(tickets), state=INVOICED)
    names = {ln.id: ln.sku or ln.title for ln in o.lines}
    return [f"{names[k]} × {v}" for k, v in sorted(unplaced.items()) if v]


def _absorbed(inp: PlanInput, ret: Returns) -> dict[int, Decimal]:
    """Money of refunds not yet ticketed that the order already took as negative payments (made while it
    was open). Each refund's own share first (what its returned invoiced units don't explain), then any
    rest oldest first."""
    o, m = inp.order, inp.mirror
    by_id = {r.id: r for r in o.refunds}
    # Money Shopify received that the order no longer holds, but only as far as negative payments show
    # it (money received later for items a closed order can't take is not a refund).
    mine = [p.amount for p in m.payments if p.id not in inp.staff_payments]
    left = min(sum((p.amount for p in o.payments), ZERO) - sum(mine, ZERO), -sum((a for a in mine if a < 0), ZERO))
    for t in m.tickets:
        r = by_id.get(t.refund_id) if t.refund_id is not None else None
        if r is not None:
            left -= r.amount + t.total      # the part of a ticketed refund the order took
    ticketed = {t.refund_id for t in m.tickets}
    todo = [r for r in o.refunds if r.id not in ticketed]
    out: dict[int, Decimal] = {}
    for r in todo:
        own = r.amount - (goods_of(inp, r, ret.by_refund[r.id]).money if r.id in ret.by_refund else ZERO)
        take = max(ZERO, min(own, left))
        out[r.id] = take
        left -= take
    for r in todo:
        take = max(ZERO, min(r.amount - out[r.id], left))
        out[r.id] += take
        left -= take
    return out

