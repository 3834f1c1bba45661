"""Cancelled in Shopify: refund the open order's payments, then cancel it in Heartland."""
from __future__ import annotations

from mortard.sync.actions import AddPayment, Plan, Reason, SetStatus
from mortard.sync.money import ZERO
from mortard.sync.plan.inputs import CANCELLED, PENDING, PlanInput


def plan_cancel(inp: PlanInput) -> Plan:
    """Cancelled in Shopify: refund the payments on the open order, then cancel it in Heartland."""
    m, d = inp.mirror, inp.dialect
    assert m.order_id is not None
    if any(h.qty_invoiced for h in m.lines):
        return Plan(state=PENDING, reasons=(Reason(
            "cancel_after_invoice", "cancelled in Shopify after part of it was invoiced; staff must return it"),))
    for ptid in sorted({p.payment_type_id for p in m.payments}):
        net = sum((p.amount for p in m.payments if p.payment_type_id == ptid), ZERO)
        if net:
            return Plan((AddPayment(m.order_id, -net, ptid),), state=CANCELLED)
    return Plan((SetStatus(m.order_id, d.status_cancelled),), state=CANCELLED)

