"""What the sandbox's API answers may show: the fields `heartland-api.md` documents, and no others.

The sandbox is a witness, not an accomplice. Its records know more than Heartland promises to tell
(`render.py` draws them whole for `/_sandbox/state`), but an API answer is cut down here to the fields
the API doc lists for that resource. A field the doc does not promise appears only when the `Dialect`
setting that assumes it is on, so mortard can never come to rely on something Heartland may not send
without that reliance being one named setting. Filters run on the cut-down records too: a client
cannot filter on a field it could not read.

Sources (sections of `shared/docs/heartland-api.md`): §1 conventions (every record has an integer
`id`; `custom`), §2 orders, lines, taxes, payments, invoices, §3 tickets, §4 lookups.
"""
from __future__ import annotations

from typing import Any

from mortard.heartland_contract.dialect import Dialect

# Per resource: the fields the doc lists (read fields where it gives them, else the fields written
# on create, which a read of the same record is taken to show).
_DOCUMENTED: dict[str, frozenset[str]] = {
    "location": frozenset({"id", "public_id", "name", "stations"}),                       # §4
    "station": frozenset({"id", "name", "location_id", "active"}),                        # §4 POST /stations
    "item": frozenset({"id", "public_id", "description", "price", "original_price", "cost", "active",
                       "custom", "primary_barcode", "track_inventory", "uuid"}),          # §4
    # §4 customers: find by email; create {first_name, last_name, email}. `phone` is what mortard
    # writes and may match on (ShopSettings.customer_match): [INFER], see docs/heartland-contract.md.
    "customer": frozenset({"id", "first_name", "last_name", "email", "phone", "uuid"}),
    "address": frozenset({"id", "first_name", "last_name", "line_1", "line_2", "city", "state",
                          "postal_code", "country", "phone"}),                            # §4
    "custom_field": frozenset({"id", "key", "name", "group_id", "required", "unique",
                               "validation_type"}),                                       # §4
    "payment_type": frozenset({"id", "name"}),                                            # §2, §4
    # §2 create table, plus `total` (call sequence A step 10) and `status`.
    "order": frozenset({"id", "public_id", "status", "customer_id", "source_location_id", "station_id",
                        "billing_address_id", "shipping_address_id", "shipping_charge",
                        "shipping_method_id", "sales_rep", "custom", "created_at", "updated_at", "total"}),
    # §2 `GET .../lines` (and the POST body's `order_id`, `total_tax`). No `custom`, no invoiced qty.
    "order_line": frozenset({"id", "order_id", "item_id", "qty", "ship_from_location_id",
                             "original_unit_price", "adjusted_unit_price", "description", "value",
                             "total_tax"}),
    "tax": frozenset({"id", "description", "value"}),                                      # §2
    "discount": frozenset({"id", "description", "amount"}),                                # §2
    "payment": frozenset({"id", "type", "deposit", "amount", "payment_type_id", "custom"}),  # §2
    # §2 POST /sales/invoices body, `type`, and the `status` PUT sets. The location field is the
    # Dialect's (UNKNOWN which), added below.
    "invoice": frozenset({"id", "order_id", "customer_id", "station_id", "total", "type", "status"}),
    "invoice_line": frozenset({"id", "type", "item_id", "qty"}),                            # §2
    "ticket": frozenset({"id", "public_id", "type", "status", "customer_id", "station_id",
                         "source_location_id", "total", "balance", "completed_at", "local_completed_at",
                         "completed?", "voided?", "sales_rep", "created_at"}),             # §3
    "ticket_line": frozenset({"id", "type", "item_id", "qty", "unit_price", "original_unit_price",
                              "description", "value"}),                                   # §2, §3
    "ticket_payment": frozenset({"id", "type", "description", "deposit", "payment_type_id", "amount",
                                 "completed_at"}),                                        # §3
}

# Where a record embeds others (`stations` on locations; `lines` with `Dialect.include_lines`).
_NESTED = {("location", "stations"): "station", ("order", "lines"): "order_line",
           ("invoice", "lines"): "invoice_line", ("ticket", "lines"): "ticket_line"}


def shown(kind: str, record: dict[str, Any], dialect: Dialect) -> dict[str, Any]:
    """`record` (a whole `render` drawing) cut down to what an API answer may carry."""
    allowed = _allowed(kind, dialect)
    out = {k: v for k, v in record.items() if k in allowed}
    if kind == "order_line":
        _order_line_assumptions(record, out, dialect)
    for (outer, key), inner in _NESTED.items():
        if outer == kind and key in out:
            out[key] = [shown(inner, r, dialect) for r in out[key]]
    return out


def _allowed(kind: str, d: Dialect) -> frozenset[str]:
    fields = _DOCUMENTED[kind]
    extra: set[str] = set()
    if kind == "invoice":
        extra.add(d.invoice_location_field)
    if kind == "invoice_line" and d.invoice_line_order_line_field:
        extra.add(d.invoice_line_order_line_field)
    if kind == "ticket" and d.ticket_parent_field:
        extra.add(d.ticket_parent_field)   # §3: returns read back with parent_transaction_id [INT]
    if kind == "ticket":
        extra.add(d.ticket_no_restock_field)
    if kind in ("order", "invoice", "ticket") and d.include_lines:
        extra.add("lines")
    return fields | extra


def _order_line_assumptions(record: dict[str, Any], out: dict[str, Any], d: Dialect) -> None:
    if d.order_line_custom_key:
        out["custom"] = dict(record.get("custom") or {})
    if d.order_line_invoiced_field:
        out[d.order_line_invoiced_field] = record.get("qty_invoiced", 0)
