"""Sales orders, invoices and tickets: the state machine and stock rules of `docs/heartland-contract.md`,
one module each (`orders.py` with their lines, taxes, discounts and payments; `invoices.py`;
`tickets.py`). Every function validates fully before it changes anything, so a refused request leaves
no trace (apart from, at most, a skipped id)."""
from mortard.sandbox.sales.invoices import add_invoice_line, create_invoice, update_invoice
from mortard.sandbox.sales.orders import (
    add_discount, add_line, add_payment, add_tax, create_order, delete_line, update_line, update_order,
)
from mortard.sandbox.sales.tickets import create_ticket

__all__ = [
    "add_discount", "add_invoice_line", "add_line", "add_payment", "add_tax", "create_invoice", "create_order",
    "create_ticket", "delete_line", "update_invoice", "update_line", "update_order",
]
