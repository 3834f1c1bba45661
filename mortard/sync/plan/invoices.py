"""Fulfilling an open order: one invoice per location holding its uninvoiced lines, filled and completed."""
from __future__ import annotations

from mortard.sync.actions import AddInvoiceLine, CompleteInvoice, CreateInvoice, Plan
from mortard.sync.model import Mirror
from mortard.sync.plan.inputs import OPEN, PlanInput


def plan_invoices(inp: PlanInput) -> Plan | None:
    m = inp.mirror
    assert m.order_id is not None and m.customer_id is not None
    for inv in m.invoices:
        if inv.completed:
            continue
        on_invoice = {il.order_line_id for il in inv.lines}
        todo = [h for h in m.lines if h.location_id == inv.location_id and h.qty > h.qty_invoiced
                and h.id not in on_invoice]
        if todo:
            return Plan(tuple(AddInvoiceLine(inv.id, h.id, h.item_id, h.qty - h.qty_invoiced) for h in todo),
                        state=OPEN)
        if inv.lines:
            return Plan((CompleteInvoice(inv.id),), state=OPEN)
    open_invoice_locs = {inv.location_id for inv in m.invoices if not inv.completed}
    locations = sorted({h.location_id for h in m.lines
                        if h.location_id is not None and h.qty > h.qty_invoiced} - open_invoice_locs)
    for loc_id in locations:
        loc = inp.catalog.location_by_id(loc_id)
        if loc is None or loc.station_id is None:
            continue
        return Plan((CreateInvoice(m.order_id, m.customer_id, loc_id, loc.station_id),), state=OPEN)
    return None


def all_invoiced(m: Mirror) -> bool:
    return all(h.qty == h.qty_invoiced for h in m.lines)

