"""Creating the order in Heartland: whether to sync it at all, the customer and addresses, the order
itself, and what must hold before it is opened.
"""
from __future__ import annotations

from collections.abc import Mapping

from mortard.sync.actions import AddAddress, CreateCustomer, CreateOrder, FindCustomer, Plan, Reason
from mortard.sync.model import Item, ShopifyOrder
from mortard.sync.plan.inputs import CREATING, PENDING, PlanInput, custom_fields
from mortard.sync.settings import ShopSettings


def skip_reason(o: ShopifyOrder, s: ShopSettings) -> Reason | None:
    if o.test and s.skip_test_orders:
        return Reason("test_order", "Shopify test order")
    ignored = [t for t in o.tags if t in s.tag_ignore]
    if ignored:
        return Reason("tag_ignored", f"tagged {ignored[0]!r}, which the shop ignores")
    if s.tag_allow and not any(t in s.tag_allow for t in o.tags):
        return Reason("tag_not_allowed", f"none of the tags {list(s.tag_allow)} the shop syncs")
    return None


def plan_create(inp: PlanInput) -> Plan | None:
    o, m, s = inp.order, inp.mirror, inp.settings
    if not m.customer_searched:
        return Plan((FindCustomer(o.customer.email if "email" in s.customer_match else "",
                                  o.customer.phone if "phone" in s.customer_match else ""),), state=CREATING)
    if m.customer_id is None:
        first = o.customer.first_name or (o.billing_address or o.shipping_address or _NOBODY).first_name or "Shopify"
        last = o.customer.last_name or (o.billing_address or o.shipping_address or _NOBODY).last_name or "Customer"
        return Plan((CreateCustomer({"first_name": first, "last_name": last, "email": o.customer.email or None,
                                     "phone": o.customer.phone or None}),), state=CREATING)
    same = o.billing_address is not None and o.billing_address == o.shipping_address
    if o.billing_address is not None and m.billing_address_id is None:
        return Plan((AddAddress("both" if same else "billing", m.customer_id, o.billing_address.as_heartland()),),
                    state=CREATING)
    if o.shipping_address is not None and m.shipping_address_id is None:
        return Plan((AddAddress("shipping", m.customer_id, o.shipping_address.as_heartland()),), state=CREATING)
    source = inp.catalog.locations.get(s.source_location)
    if source is None or source.station_id is None:
        return Plan(state=PENDING, reasons=(Reason(
            "no_source_location", f"Heartland has no order-source location {s.source_location!r} with a station"),))
    fields = {
        "customer_id": m.customer_id, "source_location_id": source.id, "station_id": source.station_id,
        "public_id": inp.public_id, "status": inp.dialect.status_pending,
        "billing_address_id": m.billing_address_id, "shipping_address_id": m.shipping_address_id,
        "shipping_charge": o.shipping, "custom": custom_fields(o, s),
    }
    return Plan((CreateOrder(inp.public_id, fields),), state=CREATING)


def pending_reasons(inp: PlanInput, items: Mapping[int, Item | None]) -> tuple[Reason, ...]:
    o, m = inp.order, inp.mirror
    reasons: list[Reason] = []
    missing = [ln.sku or f"line {ln.id}" for ln in o.lines if items.get(ln.id) is None and ln.current_quantity]
    if missing:
        reasons.append(Reason("unknown_item", f"no Heartland item for {', '.join(missing[:5])}"))
    if m.order_total != m.payments_total:
        reasons.append(Reason("total_mismatch",
                              f"order total {m.order_total} does not equal payments {m.payments_total}"))
    # What Heartland holds counts as well as what mortard sent: staff may have filled a required
    # field or added an address there (the watch re-reads the order: sync/watch.py).
    custom = {**dict(m.custom), **{k: v for k, v in custom_fields(o, inp.settings).items() if v}}
    empty = [k for k in inp.catalog.required_custom_fields if not custom.get(k)]
    if empty:
        reasons.append(Reason("required_custom_field",
                              f"required Heartland custom field(s) empty: {', '.join(empty)}"))
    if o.billing_address is None and o.shipping_address is None and \
            m.billing_address_id is None and m.shipping_address_id is None:
        reasons.append(Reason("missing_addresses", "the order has neither a shipping nor a billing address"))
    return tuple(reasons)


class _Nobody:
    first_name = ""
    last_name = ""


_NOBODY = _Nobody()

