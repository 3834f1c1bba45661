"""Tax, shipping and payments on an editable order, and the order that would close on its last shrink
and the reason given when its money does not balance.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal

from mortard.sync.actions import AddPayment, AddTax, Plan, Reason, SetShipping
from mortard.sync.model import HPayment, Item, Mirror
from mortard.sync.money import CENT, ZERO
from mortard.sync.plan.inputs import (
    CREATING, PENDING, PlanInput, desired_qty, payment_type_for, refunded_units,
)
from mortard.sync.plan.returns import Returns, goods_of, returns_of


def closing(inp: PlanInput, items: Mapping[int, Item | None]) -> bool:
    """Would reaching the target leave no uninvoiced units on an order that has invoiced some? Then
    Heartland closes it on the last shrink, and nothing on it can change afterwards."""
    o, m = inp.order, inp.mirror
    if m.status != inp.dialect.status_open or not any(h.qty_invoiced for h in m.lines):
        return False
    if not any(h.qty > h.qty_invoiced for h in m.lines):
        return False
    for ln in o.lines:
        if items.get(ln.id) is None:
            if any(h.qty > h.qty_invoiced for h in m.lines_for(ln.id)):
                return False
            continue
        if desired_qty(o, ln) > sum(h.qty_invoiced for h in m.lines_for(ln.id)):
            return False
    return True


def closed_total(m: Mirror) -> Decimal:
    """The order's total once every line is down to its invoiced units."""
    return (sum((h.unit_price * h.qty_invoiced for h in m.lines), ZERO) + m.tax_total
            + m.shipping_charge - m.discount_total).quantize(CENT)


def imbalance(inp: PlanInput, total: Decimal) -> Reason:
    """An open order whose total and payments differ: say what differs and what in Shopify explains it."""
    o, m = inp.order, inp.mirror
    net = sum((p.amount for p in o.payments), ZERO) - o.refunded
    parts = [f"Heartland order total {total} and payments {m.payments_total} differ by {total - m.payments_total}",
             f"Shopify's current total is {o.current_total_price} and it holds {net} net of refunds"]
    ticketed = {t.refund_id for t in m.tickets}
    for r in o.refunds:
        if r.id in ticketed:
            continue
        explained = sum((rl.subtotal for rl in r.lines), r.shipping) + r.tax
        if r.amount != explained:
            parts.append(f"refund {r.id} of {r.amount} is {r.amount - explained} more than the items, tax and "
                         f"shipping it returns (goodwill or adjustment)")
    for ln in o.lines:
        removed = ln.quantity - refunded_units(o, ln.id) - ln.current_quantity
        if removed > 0 and not o.cancelled:
            parts.append(f"{ln.sku or ln.title}: {removed} removed in Shopify with no refund (yet)")
    return Reason("refund_on_open_order", "; ".join(parts) + "; staff must balance it")


def _desired_tax(inp: PlanInput) -> Decimal:
    o = inp.order
    if o.taxes_included or o.cancelled:
        return ZERO
    return o.current_total_tax


def plan_charges(inp: PlanInput, items: Mapping[int, Item | None], ret: Returns | None = None) -> Plan | None:
    m = inp.mirror
    assert m.order_id is not None
    if m.status not in (inp.dialect.status_pending, inp.dialect.status_open):
        return None
    ret = ret or returns_of(inp)
    # Invoiced units that tickets return stay on the order, and so does their tax.
    tax = _desired_tax(inp) + sum((goods_of(inp, r, ret.by_refund[r.id]).tax for r in inp.order.refunds
                                   if r.id in ret.by_refund), ZERO)
    if m.tax_total != tax:
        return Plan((AddTax(m.order_id, tax - m.tax_total),), state=CREATING)
    # A shipping refund lowers the shipping charge of an order that can still change.
    refunded_shipping = sum((r.shipping for r in inp.order.refunds), ZERO)
    shipping = ZERO if inp.order.cancelled else max(ZERO, inp.order.shipping - refunded_shipping)
    if m.shipping_charge != shipping:
        return Plan((SetShipping(m.order_id, shipping),), state=CREATING)
    return None


def _desired_payments(inp: PlanInput, ret: Returns | None = None) -> tuple[dict[int, Decimal], dict[int, Decimal]] | Reason:
    """Net money by Heartland payment type: received in Shopify, less the part of each refund that no
    ticket carries (a ticket carries the invoiced units it returns, with their tax); and of it, what was
    received."""
    out: dict[int, Decimal] = {}
    received: dict[int, Decimal] = {}
    ret = ret or returns_of(inp)
    on_ticket = {t.refund_id: -t.total for t in inp.mirror.tickets if t.refund_id is not None}
    entries = [(p.gateway, p.amount) for p in inp.order.payments]
    for r in inp.order.refunds:
        carried = on_ticket[r.id] if r.id in on_ticket else (
            goods_of(inp, r, ret.by_refund[r.id]).money if r.id in ret.by_refund else ZERO)
        if r.amount - carried:
            entries.append((r.gateway or (inp.order.payments[0].gateway if inp.order.payments else ""),
                            carried - r.amount))
    for n, (gateway, amount) in enumerate(entries):
        ptid = payment_type_for(gateway, inp)
        if ptid is None:
            return Reason("no_payment_type", f"no Heartland payment type for Shopify gateway {gateway!r}")
        out[ptid] = out.get(ptid, ZERO) + amount
        if n < len(inp.order.payments):
            received[ptid] = received.get(ptid, ZERO) + amount
    return out, received


def plan_payments(inp: PlanInput, items: Mapping[int, Item | None], ret: Returns | None = None) -> Plan | None:
    m = inp.mirror
    assert m.order_id is not None
    if m.status not in (inp.dialect.status_pending, inp.dialect.status_open):
        return None
    desired = _desired_payments(inp, ret)
    if isinstance(desired, Reason):
        return Plan(state=PENDING, reasons=(desired,))
    desired_net, received = desired
    have: dict[int, Decimal] = {}
    have_received: dict[int, Decimal] = {}
    staff = [p for p in m.payments if p.id in inp.staff_payments]
    for p in m.payments:
        if p.id in inp.staff_payments:
            continue
        have[p.payment_type_id] = have.get(p.payment_type_id, ZERO) + p.amount
        if p.amount > 0:
            have_received[p.payment_type_id] = have_received.get(p.payment_type_id, ZERO) + p.amount
    if staff:
        desired_net, received = staff_covered(desired_net, received, have, have_received, staff)
    for ptid in sorted(set(desired_net) | set(have)):
        # Money received goes on as itself and refunds as negative payments, even when both are known at
        # once (an order refunded before it reached Heartland): once the order closes, its negative
        # payments are what says which refunds it already took (_absorbed).
        more = received.get(ptid, ZERO) - have_received.get(ptid, ZERO)
        delta = desired_net.get(ptid, ZERO) - have.get(ptid, ZERO)
        if more > 0 and delta < more:
            return Plan((AddPayment(m.order_id, more, ptid),), state=CREATING)
        if delta:
            return Plan((AddPayment(m.order_id, delta, ptid),), state=CREATING)
    return None



def staff_covered(net: Mapping[int, Decimal], received: Mapping[int, Decimal], have: Mapping[int, Decimal],
                  have_received: Mapping[int, Decimal], staff: Sequence[HPayment]
                  ) -> tuple[dict[int, Decimal], dict[int, Decimal]]:
    """What mortard itself must still hold, by payment type, once the payments staff made in
    Heartland count as Heartland's (PlanInput.staff_payments).

    Money staff took stands for money Shopify says was received that mortard's own payments don't
    hold yet; a refund staff gave by hand stands for a Shopify refund mortard hasn't booked. Such a
    part is not booked again (no duplicate). Staff money beyond that is left where it is: mortard
    never books a payment to take it off (an order that then doesn't balance waits for a person)."""
    net, received = dict(net), dict(received)
    taken = sum((p.amount for p in staff if p.amount > 0), ZERO)
    given = sum((p.amount for p in staff if p.amount < 0), ZERO)
    # Their own payment types first, then the rest in order.
    types = [t for t in dict.fromkeys(p.payment_type_id for p in staff) if t in net]
    types += [t for t in sorted(net) if t not in types]
    for ptid in types:
        want_in = received.get(ptid, ZERO) - have_received.get(ptid, ZERO)
        cover = min(taken, max(ZERO, want_in))
        if cover:
            received[ptid] = received.get(ptid, ZERO) - cover
            net[ptid] -= cover
            taken -= cover
        want_out = (net[ptid] - received.get(ptid, ZERO)) - (have.get(ptid, ZERO) - have_received.get(ptid, ZERO))
        cover = max(given, min(ZERO, want_out))
        if cover:
            net[ptid] -= cover
            given -= cover
    return net, received
