"""Everything heartland-api.md marks UNKNOWN or unconfirmed, named in one place.

The client, the sync core and the sandbox all read these values from a `Dialect`, so when a real
Heartland account answers one of the open questions, the change is one line here (or one setting
under `[heartland.dialect]` in the config file).
"""
from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Any


@dataclass(frozen=True, slots=True)
class Dialect:
    # Sales order status spellings. `pending` and `open` are confirmed; the others are not.
    status_pending: str = "pending"
    status_open: str = "open"
    status_closed: str = "closed"
    status_cancelled: str = "canceled"  # purchase orders use "canceled"; sales orders unconfirmed
    # Which invoice field places the invoice at a location (spree used source_location_id).
    invoice_location_field: str = "source_location_id"
    # Whether an invoice line names the order line it fulfils (else matched by item).
    invoice_line_order_line_field: str | None = "order_line_id"
    invoice_status_complete: str = "complete"
    # DELETE /sales/orders/{id}/lines/{line_id} is unconfirmed; without it a removed line is set to qty 0.
    line_delete_supported: bool = True
    # Heartland's HTTP status for validation errors is probably 422; we key on the body's `error`.
    validation_http_status: int = 422
    # Payment "type" on order deposits and on tickets.
    order_payment_type: str = "CustomPayment"
    ticket_payment_type: str = "Payments::ExternalPayment"
    # Tickets: the field linking a return to the original invoice, and the no-restock switch.
    ticket_parent_field: str | None = "parent_transaction_id"
    ticket_no_restock_field: str = "affect_inventory"
    # The custom-field group that sales orders, invoices and tickets share (INFER).
    order_custom_field_group: str = "sales.transaction"
    # Page size for collection reads; max per_page is unknown.
    per_page: int = 200

    def with_overrides(self, overrides: dict[str, Any]) -> Dialect:
        known = {f.name for f in fields(self)}
        unknown = set(overrides) - known
        if unknown:
            raise ValueError(f"unknown heartland dialect setting(s): {', '.join(sorted(unknown))}")
        return replace(self, **overrides)


DEFAULT_DIALECT = Dialect()
