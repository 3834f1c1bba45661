"""Everything heartland-api.md marks UNKNOWN or unconfirmed, named in one place.

The client, the sync core and the sandbox all read these values from a `Dialect`, so when a real
Heartland account answers one of the open questions, the change is one line here (or one setting
under `[heartland.dialect]` in the config file).

Two kinds of setting live here. Spellings the doc leaves open but mortard must pick (status names,
which invoice field holds the location) have the likeliest value. **Behaviours the doc does not
promise are off by default**: mortard, and the sandbox that witnesses it, rely only on documented
fields unless a setting says otherwise, and the suite runs with each of them off and on
(docs/heartland-contract.md lists each fact as documented or assumed).
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
    # ASSUMED: an invoice line names the order line it fulfils in this field (the doc: UNKNOWN).
    # Off: invoice lines carry item and qty, and Heartland matches them to the order lines
    # distributed to the invoice's location by item.
    invoice_line_order_line_field: str | None = None
    invoice_status_complete: str = "complete"
    # ASSUMED: DELETE /sales/orders/{id}/lines/{line_id} works (the doc: UNCONFIRMED). Off: a removed
    # line is set to qty 0 with the documented PUT.
    line_delete_supported: bool = False
    # Heartland's HTTP status for validation errors is probably 422; we key on the body's `error`.
    validation_http_status: int = 422
    # Payment "type" on order deposits and on tickets.
    order_payment_type: str = "CustomPayment"
    ticket_payment_type: str = "Payments::ExternalPayment"
    # Tickets: the no-restock switch, and the field linking a return to the original invoice.
    # ASSUMED writable on create (the doc: returns *read back* with parent_transaction_id; whether
    # it can be written is UNKNOWN). Off: returns are not linked.
    ticket_parent_field: str | None = None
    ticket_no_restock_field: str = "affect_inventory"
    # The custom-field group that sales orders, invoices and tickets share (INFER).
    order_custom_field_group: str = "sales.transaction"
    # Page size for collection reads; max per_page is unknown.
    per_page: int = 200
    # ASSUMED: order lines accept a custom field of this key naming the Shopify line item, and echo
    # it on reads. Off: which Heartland line is which Shopify line comes from mortard's journal.
    order_line_custom_key: str | None = None
    # ASSUMED: order lines read back their invoiced quantity in this field (the doc: name UNKNOWN).
    # Off: invoiced quantities come from the order's invoices and their lines.
    order_line_invoiced_field: str | None = None
    # ASSUMED: `_include[]=lines` embeds lines in order, invoice and ticket reads (the doc shows
    # `_include` only for customer, location and stations). Off: each invoice's lines are read
    # from `GET /sales/invoices/{id}/lines`.
    include_lines: bool = False
    # ASSUMED: `GET /sales/orders/{id}/discounts` lists the order's discounts (`results[].amount`),
    # as it does for taxes (the doc shows only the POST {description, amount}). The order's `total`
    # is net of them either way. Off: mortard reads no order discounts (the sandbox does not answer
    # that GET); a discount staff add shows only as a `total` that differs from mortard's, and the
    # order is left as staff made it. Line discounts need no setting: `adjusted_unit_price` is the
    # documented price after them.
    order_discounts_listed: bool = False

    def with_overrides(self, overrides: dict[str, Any]) -> Dialect:
        known = {f.name for f in fields(self)}
        unknown = set(overrides) - known
        if unknown:
            raise ValueError(f"unknown heartland dialect setting(s): {', '.join(sorted(unknown))}")
        return replace(self, **overrides)


DEFAULT_DIALECT = Dialect()

# Each assumption above, with the value that turns it on: the suite runs its fault scenarios with
# each one on as well as with all of them off (the defaults).
ASSUMPTIONS: dict[str, Any] = {
    "invoice_line_order_line_field": "order_line_id",
    "line_delete_supported": True,
    "ticket_parent_field": "parent_transaction_id",
    "order_line_custom_key": "shopify_line_id",
    "order_line_invoiced_field": "qty_invoiced",
    "include_lines": True,
    "order_discounts_listed": True,
}
