"""Invoiced units the customer gave back: which refund returns which units, what they are worth at
Heartland's prices, and the balanced return ticket for a refund.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal

from mortard.sync.actions import CreateTicket, Plan, Reason, TicketLine
from mortard.sync.model import Refund
from mortard.sync.money import CENT, ZERO
from mortard.sync.plan.inputs import OPEN, PENDING, PlanInput, desired_qty, item_of, payment_type_for


@dataclass(frozen=True, slots=True)
class Returns:
    """Invoiced units the customer no longer keeps: they can't come off the order, so tickets return them.

    `by_refund`: refund id -> Shopify line id -> units that refund's ticket returns. Each line's
    returned units are given to its refunds newest first: removals take uninvoiced units first, so it
    is the later refunds that reach invoiced ones. `unexplained`: returned units no refund covers yet
    (a cancellation or removal whose refund hasn't arrived).
    """

    by_refund: dict[int, dict[int, int]]
    unexplained: dict[int, int]


def returns_of(inp: PlanInput) -> Returns:
    o, m = inp.order, inp.mirror
    by_refund: dict[int, dict[int, int]] = {}
    unexplained: dict[int, int] = {}
    if not m.tickets and not any(h.qty_invoiced for h in m.lines):
        return Returns(by_refund, unexplained)   # nothing invoiced or sold: nothing to give back
    for ln in o.lines:
        invoiced = sum(h.qty_invoiced for h in m.lines_for(ln.id)) + m.sold_for(ln.id)
        need = max(0, invoiced - desired_qty(o, ln))
        for r in reversed(o.refunds):
            if need <= 0:
                break
            take = min(need, sum(rl.quantity for rl in r.lines if rl.line_id == ln.id))
            if take > 0:
                by_refund.setdefault(r.id, {})[ln.id] = take
                need -= take
        if need > 0:
            unexplained[ln.id] = need
    return Returns(by_refund, unexplained)


@dataclass(frozen=True, slots=True)
class _Goods:
    lines: tuple[TicketLine, ...]   # restocked item lines (negative qty)
    unstocked: Decimal              # value of returned units that are not restocked (no_restock)
    tax: Decimal                    # tax refunded with the returned units (positive)

    @property
    def money(self) -> Decimal:
        return sum((-ln.unit_price * ln.qty for ln in self.lines), ZERO) + self.unstocked + self.tax


def goods_of(inp: PlanInput, refund: Refund, units: Mapping[int, int]) -> _Goods:
    """The returned units of one refund at their Heartland prices, with the refund lines' tax."""
    o, m = inp.order, inp.mirror
    lines: list[TicketLine] = []
    unstocked = tax = ZERO
    for line_id in sorted(units):
        left = units[line_id]
        hls = m.lines_for(line_id)
        if hls:
            hl = next((h for h in hls if h.qty_invoiced), hls[0])
            item_id, unit_price = hl.item_id, hl.unit_price
        else:
            sold = _sold_item(inp, line_id)     # units sold on a sale ticket only
            if sold is None:
                continue
            item_id, unit_price = sold
        if left <= 0:
            continue
        for rl in refund.lines:
            if rl.line_id != line_id or rl.quantity <= 0 or left <= 0:
                continue
            n = min(left, rl.quantity)
            left -= n
            tax += rl.tax if n == rl.quantity else (rl.tax * n / rl.quantity).quantize(CENT)
            if rl.restock_type == "no_restock":
                unstocked += unit_price * n   # money only: carried by the refund item, no stock moves
            else:
                lines.append(TicketLine(item_id, -n, unit_price, f"Refund {refund.id} of {o.name}"))
    return _Goods(tuple(lines), unstocked, tax)


def _sold_item(inp: PlanInput, line_id: int) -> tuple[int, Decimal] | None:
    """Item and (average net) unit price of a Shopify line whose units were sold on a sale ticket."""
    if not inp.mirror.sold_for(line_id):
        return None
    ln = next((x for x in inp.order.lines if x.id == line_id), None)
    item = item_of(inp, ln) if ln is not None else None
    if ln is None or item is None:
        return None
    return item.id, ((ln.price * ln.quantity - ln.discount) / ln.quantity).quantize(CENT)


def ticket_for(inp: PlanInput, refund: Refund, units: Mapping[int, int], money: Decimal,
               extra_tax: Decimal = ZERO) -> CreateTicket | Reason | None:
    """One balanced ticket: the returned units (restocked), the refund's tax for them, `money` paid back,
    and whatever the goods and tax don't explain on the non-inventory refund item."""
    o, m, s, cat = inp.order, inp.mirror, inp.settings, inp.catalog
    loc_key = s.restock_location or s.source_location
    loc = cat.locations.get(loc_key)
    if loc is None or loc.station_id is None or m.customer_id is None:
        return Reason("no_return_location", f"no Heartland location {loc_key!r} with a station for returns")
    refund_item = (inp.items or {}).get(s.refund_item)
    goods = goods_of(inp, refund, units)
    lines = list(goods.lines)
    tax = -(goods.tax + extra_tax)
    payment = -money
    value = sum((ln.unit_price * ln.qty for ln in lines), ZERO)
    # Whatever the goods and tax lines don't explain (shipping refunds, no-restock lines, discrepancies)
    # goes on one line of the non-inventory refund item, so the ticket balances and no stock moves.
    gap = payment - (value + tax)
    if gap or (not lines and (payment or tax)):  # money moves (even only tax): the ticket needs a line
        if refund_item is None:
            return Reason("no_refund_item", f"no non-inventory item {s.refund_item!r} for a money-only refund")
        lines.append(TicketLine(refund_item.id, -1, ZERO - gap, f"Refund {refund.id} of {o.name}"))  # never "-0.00"
    if not lines:
        if units:
            return Reason("empty_refund", f"refund {refund.id} moves no goods and no money")
        return None
    gateway = refund.gateway or (o.payments[0].gateway if o.payments else "")
    ptid = payment_type_for(gateway, inp)
    if ptid is None:
        return Reason("no_payment_type", f"no Heartland payment type for Shopify gateway {gateway!r}")
    parent = next((i.id for i in m.invoices if i.completed), None)
    # Numbered by tickets already made, not by the refund's position: a refund delivered late (older
    # than one already ticketed) gets the next number instead of reusing one.
    n = len(m.return_tickets) + 1
    return CreateTicket(refund.id, f"{inp.public_id}-R{n}", m.customer_id, loc.station_id, tuple(lines), tax,
                        payment, ptid, parent, restock=bool(goods.lines) or not units)


def plan_tickets(inp: PlanInput, ret: Returns) -> Plan | None:
    """An order that can still change returns invoiced units on tickets: one per refund, carrying only
    those units and their tax; the rest of the refund stays on the order as a negative payment."""
    ticketed = {t.refund_id for t in inp.mirror.tickets}
    for refund in inp.order.refunds:
        if refund.id in ticketed or refund.id not in ret.by_refund:
            continue
        units = ret.by_refund[refund.id]
        ticket = ticket_for(inp, refund, units, goods_of(inp, refund, units).money)
        if isinstance(ticket, Reason):
            return Plan(state=PENDING, reasons=(ticket,))
        if ticket is not None:
            return Plan((ticket,), state=OPEN)
    return None

