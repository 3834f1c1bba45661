"""The planner: given the Shopify order, Heartland as mortard knows it, stock and the shop's settings,
return the next actions. Pure and level-triggered: it compares what Heartland should hold with what it
holds, so duplicates, out-of-order events and restarts are all just "reconcile again", and a converged
order plans nothing.

The order of the checks is the merchant's workflow: create (customer, order, lines, taxes, shipping,
payments) → distribute → validate and open → fulfil and invoice; and for later changes, the Heartland
order's state decides: edit an open order in place, or record a ticket against an invoiced one. Each
step lives in a sibling module named for it.
"""
from __future__ import annotations

from mortard.sync.actions import LoadStock, Plan, Reason, SetStatus
from mortard.sync.plan.cancel import plan_cancel
from mortard.sync.plan.charges import closed_total, closing, imbalance, plan_charges, plan_payments
from mortard.sync.plan.closed import plan_invoiced
from mortard.sync.plan.create import pending_reasons, plan_create, skip_reason
from mortard.sync.plan.inputs import (
    CANCELLED, CREATING, DEAD, IGNORED, OPEN, PENDING, PlanInput, WAITING_STOCK, items_or_load,
    tracked_items,
)
from mortard.sync.plan.invoices import all_invoiced, plan_invoices
from mortard.sync.plan.lines import plan_lines
from mortard.sync.plan.returns import plan_tickets, returns_of


def plan(inp: PlanInput) -> Plan:
    o, m, d = inp.order, inp.mirror, inp.dialect
    if m.order_id is None:
        skip = skip_reason(o, inp.settings)
        if skip is not None:
            return Plan(state=IGNORED, reasons=(skip,))
        if o.currency.upper() != inp.settings.currency.upper():
            return Plan(state=DEAD, reasons=(Reason(
                "currency_mismatch", f"order is in {o.currency}; the shop's Heartland account books "
                                     f"in {inp.settings.currency}"),))
        if o.cancelled or all(ln.current_quantity == 0 for ln in o.lines):
            return Plan(state=CANCELLED, reasons=(Reason("cancelled_before_sync", "cancelled in Shopify before it reached Heartland"),))
    if m.status == d.status_cancelled:
        return Plan(state=CANCELLED)
    if o.money_problems:
        # Part of the order's money exists only in the buyer's currency: Heartland books the shop's, and a
        # sum of two currencies is wrong to the cent, so nothing moves until a person converts it.
        return Plan(state=PENDING, reasons=(Reason(
            "foreign_currency_money", "; ".join(o.money_problems) + f"; Heartland books {o.currency} only"),))
    items = items_or_load(inp)
    if isinstance(items, Plan):
        return items
    if m.order_id is not None and (m.status == d.status_closed or (m.lines and all_invoiced(m))):
        return plan_invoiced(inp, items)
    if m.order_id is None:
        if inp.stock is None and (tracked := tracked_items(o, items)):
            # Routing needs stock three steps from here. The machine sends this read off and goes
            # on with the creation steps meanwhile (sync/overlap.py): they need no stock.
            return Plan((LoadStock(tracked),), state=CREATING)
        created = plan_create(inp)
        if created is not None:
            return created
    assert m.order_id is not None

    if o.cancelled and not any(h.qty_invoiced for h in m.lines):
        return plan_cancel(inp)

    ret = returns_of(inp)
    if closing(inp, items):
        # Removing the last uninvoiced units closes the order in Heartland, after which nothing on it
        # can change: settle its money first, and only close it once it balances.
        for step in (plan_charges, plan_payments):
            result = step(inp, items, ret)
            if result is not None:
                return result
        if closed_total(m) != m.payments_total:
            # The order stays open for staff, but returns of invoiced units balance on their own tickets:
            # make them, or Heartland keeps money Shopify gave back.
            ticket = plan_tickets(inp, ret)
            if ticket is not None:
                return ticket
            return Plan(state=PENDING, reasons=(imbalance(inp, closed_total(m)),))
        steps = (plan_lines,)
    else:
        steps = (plan_lines, plan_charges, plan_payments)
    for step in steps:
        result = step(inp, items, ret)
        if result is not None:
            return result
    ticket = plan_tickets(inp, ret)
    if ticket is not None:
        return ticket

    if m.status == d.status_pending:
        reasons = pending_reasons(inp, items)
        if reasons:
            return Plan(state=PENDING, reasons=reasons)
        return Plan((SetStatus(m.order_id, d.status_open),), state=CREATING)

    if m.order_total != m.payments_total:
        return Plan(state=PENDING, reasons=(imbalance(inp, m.order_total),))

    if inp.settings.auto_invoice and m.status == d.status_open:
        invoicing = plan_invoices(inp)
        if invoicing is not None:
            return invoicing
    if any(ln.location_id is None and ln.qty > ln.qty_invoiced for ln in m.lines):
        return Plan(state=WAITING_STOCK, reasons=(Reason(
            "no_stock", "some lines have no location with stock; staff finish them by hand"),))
    return Plan(state=OPEN)

