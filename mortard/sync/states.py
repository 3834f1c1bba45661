"""The sync states an order can be in, and the reason codes that explain them: declared once here.

Postgres stores the state's value (`orders.sync_state`) and each reason as `{code, message}`
(`orders.pending_reasons`); the operator's commands, the metrics and the demo read the meaning and
the sentence from here. Every `Reason(code, …)` the core makes must name a code in `REASONS`
(tests/unit/sync/test_sync_states.py checks the sources).
"""
from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class SyncState(StrEnum):
    RECEIVED = "received"
    CREATING = "creating"
    OPEN = "open"
    INVOICED = "invoiced"
    WAITING_STOCK = "waiting_stock"
    PENDING = "pending"
    FAILED = "failed"
    DEAD = "dead"
    CANCELLED = "cancelled"
    IGNORED = "ignored"

    @property
    def sentence(self) -> str:
        return _SENTENCES[self]

    @property
    def needs_a_person(self) -> bool:
        return self in (SyncState.PENDING, SyncState.DEAD)


_SENTENCES = {
    SyncState.INVOICED: "invoiced (done: stock taken, order closed in Heartland)",
    SyncState.WAITING_STOCK: "waiting for stock (open; some lines have no store with stock)",
    SyncState.OPEN: "open (distributed; staff invoice it: auto-invoice is off)",
    SyncState.PENDING: "pending (left in Heartland as pending; a person decides)",
    SyncState.CANCELLED: "cancelled",
    SyncState.IGNORED: "ignored (not for Heartland)",
    SyncState.DEAD: "dead (mortard can't sync it; a person must act)",
    SyncState.FAILED: "failed (will retry)",
    SyncState.CREATING: "still syncing",
    SyncState.RECEIVED: "received, waiting for the order itself",
}


@dataclass(frozen=True, slots=True)
class ReasonCode:
    code: str
    state: SyncState      # the state an order with this reason is in
    means: str            # what it means for the operator, in a sentence


def _r(code: str, state: SyncState, means: str) -> tuple[str, ReasonCode]:
    return code, ReasonCode(code, state, means)


S = SyncState
REASONS: dict[str, ReasonCode] = dict([
    # left pending in Heartland for staff
    _r("total_mismatch", S.PENDING, "Heartland's total does not match the payments"),
    _r("required_custom_field", S.PENDING, "a required custom field is empty"),
    _r("refund_on_open_order", S.PENDING, "a refund reached an order that is still open"),
    _r("missing_addresses", S.PENDING, "the order has neither a billing nor a shipping address"),
    _r("unknown_item", S.PENDING, "a SKU has no Heartland item"),
    _r("no_payment_type", S.PENDING, "a payment gateway has no Heartland payment type"),
    _r("no_customer", S.PENDING, "the order has no email or phone to find or create a customer by"),
    _r("heartland_refused_open", S.PENDING, "Heartland refused to open the order"),
    _r("return_without_refund", S.PENDING, "units were returned in Shopify without a refund"),
    _r("empty_refund", S.PENDING, "a refund carries nothing mortard can record"),
    _r("no_refund_item", S.PENDING, "the shop's non-inventory refund item is missing in Heartland"),
    _r("no_return_location", S.PENDING, "no location is set to take returns"),
    _r("no_source_location", S.PENDING, "Heartland has no order-source location with a station as configured"),
    _r("cancel_after_invoice", S.PENDING, "cancelled in Shopify after part of it was invoiced; staff return it"),
    _r("addition_to_closed_order", S.PENDING, "units added to a closed order that no store can supply"),
    _r("foreign_currency_money", S.PENDING, "some money exists only in another currency than the shop's"),
    _r("payment_after_close", S.PENDING, "money was taken in Shopify after Heartland closed the order"),
    _r("money_mismatch_after_close", S.PENDING, "Heartland's closed order and tickets hold more money than Shopify"),
    # waiting for stock
    _r("no_stock", S.WAITING_STOCK, "some lines have no location with stock; staff finish them by hand"),
    _r("invoice_refused", S.WAITING_STOCK, "Heartland refused to complete an invoice for want of stock; it is kept and retried"),
    # retrying
    _r("heartland_unavailable", S.FAILED, "Heartland failed or timed out; mortard retries on a growing delay"),
    _r("internal_error", S.FAILED, "mortard hit an unexpected error; it retries"),
    _r("no_convergence", S.FAILED, "the plan did not converge; it retries in ten minutes"),
    _r("heartland_token_refused", S.FAILED, "the Heartland account refused mortard's token (401/403); the order "
       "waits and continues once the token works again"),
    # a person must act
    _r("heartland_refused", S.DEAD, "Heartland refused a request as invalid"),
    _r("heartland_error", S.DEAD, "Heartland answered with an error re-sending cannot fix"),
    _r("retries_exhausted", S.DEAD, "mortard gave up after its last retry"),
    _r("heartland_unaccounted", S.DEAD, "Heartland holds something mortard did not create (changed by hand?)"),
    _r("return_replanned", S.DEAD, "a return sent before a failure would be recorded differently now"),
    _r("invalid_order", S.DEAD, "the Shopify payload cannot be synced as it is"),
    _r("unknown_shop", S.DEAD, "the shop is not configured"),
    _r("currency_mismatch", S.DEAD, "the order is in another currency than the shop's Heartland account"),
    # nothing for Heartland
    _r("test_order", S.IGNORED, "a Shopify test order"),
    _r("tag_ignored", S.IGNORED, "the order has a tag the shop ignores"),
    _r("tag_not_allowed", S.IGNORED, "the order lacks a tag the shop requires"),
    _r("cancelled_before_sync", S.CANCELLED, "cancelled in Shopify before it reached Heartland"),
    _r("waiting_for_order", S.RECEIVED, "a refund or transaction arrived before the order itself"),
])

# What the watch over waiting orders records when Heartland changed under mortard (`order_drift`).
DRIFT_KINDS: dict[str, str] = {
    "heartland_edited": "changed in Heartland by hand after mortard opened or closed it; left as staff made it",
    "staff_disagrees": "staff changed the pending order in Heartland so that it no longer matches Shopify; "
                       "left as staff made it",
    "staff_fixed": "staff changed the pending order in Heartland, keeping what came from Shopify; mortard "
                   "opened it (if staff hadn't) and re-planned it from what Heartland holds",
}
