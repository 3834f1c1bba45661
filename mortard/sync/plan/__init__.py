"""The planner (`plan`): the Shopify order, Heartland as mortard knows it, stock and settings in; the
next actions, or the state the order reached and why, out. `workflow.py` says the order of the checks;
each step has its own module (create, lines, charges, returns, invoices, closed, cancel)."""
from mortard.sync.plan.inputs import (
    CANCELLED, CREATING, DEAD, FAILED, IGNORED, INVOICED, OPEN, PENDING, RECEIVED, WAITING_STOCK, PlanInput,
    custom_fields, payment_type_for,
)
from mortard.sync.plan.returns import Returns
from mortard.sync.plan.workflow import plan

__all__ = [
    "CANCELLED", "CREATING", "DEAD", "FAILED", "IGNORED", "INVOICED", "OPEN", "PENDING", "RECEIVED", "WAITING_STOCK",
    "PlanInput", "Returns", "custom_fields", "payment_type_for", "plan",
]
