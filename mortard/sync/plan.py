"""The planner: given the Shopify order, Heartland as mortard knows it, stock and the shop's settings,
return the next actions. Pure and level-triggered: it compares what Heartland should hold with what it
holds, so duplicates, out-of-order events and restarts are all just "reconcile again", and a converged
order plans nothing.

The order of the checks is the merchant's workflow: create (customer, order, lines, taxes, shipping,
payments) → distribute → validate and open → fulfil and invoice; and for later changes, the Heartland
order's state decides: edit an open order in place, or record a ticket against an invoiced one.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal

from mortard.heartland_contract.dialect import Dialect
from mortard.sync.actions import (
    Action, AddAddress, AddInvoiceLine, AddLine, AddPayment, AddTax, CompleteInvoice, CreateCustomer,
    CreateInvoice, CreateOrder, CreateTicket, DeleteLine, FindCustomer, LoadItems, LoadStock, Plan, Reason,
    SetShipping, SetStatus, TicketLine, UpdateLine,
)
from mortard.sync.model import Catalog, Item, Mirror, Refund, ShopifyLine, ShopifyOrder, Stock
from mortard.sync.money import CENT, ZERO, PriceGroup, unit_price_groups
from mortard.sync.routing import LineDemand, allowed_locations, route
from mortard.sync.settings import ShopSettings
from mortard.sync.states import SyncState

# Sync states recorded in Postgres (declared in sync/states.py).
RECEIVED, CREATING, OPEN, INVOICED, WAITING_STOCK, PENDING = (
    SyncState.RECEIVED, SyncState.CREATING, SyncState.OPEN, SyncState.INVOICED, SyncState.WAITING_STOCK,
    SyncState.PENDING)
FAILED, DEAD, CANCELLED, IGNORED = SyncState.FAILED, SyncState.DEAD, SyncState.CANCELLED, SyncState.IGNORED


@dataclass(frozen=True, slots=True)
class PlanInput:
    order: ShopifyOrder
    mirror: Mirror
    settings: ShopSettings
    catalog: Catalog
    dialect: Dialect
    items: Mapping[str, Item | None] | None = None   # sku -> item; None = not loaded yet
    stock: Stock | None = None                       # None = not loaded yet

    @property
    def public_id(self) -> str:
        return f"{self.settings.order_prefix}{self.order.name}"


def plan(inp: PlanInput) -> Plan:
    o, m, d = inp.order, inp.mirror, inp.dialect
    if m.order_id is None:
        skip = _skip_reason(o, inp.settings)
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
    items = _items_or_load(inp)
    if isinstance(items, Plan):
        return items
    if m.order_id is not None and (m.status == d.status_closed or (m.lines and _all_invoiced(m))):
        return _plan_invoiced(inp, items)
    if m.order_id is None:
        if inp.stock is None and (tracked := _tracked_items(o, items)):
            # Routing needs stock three steps from here; read it first, so everything from the
            # customer to the invoice can be journaled in one write (sync/batch.py).
            return Plan((LoadStock(tracked),), state=CREATING)
        created = _plan_create(inp)
        if created is not None:
            return created
    assert m.order_id is not None

    if o.cancelled and not any(h.qty_invoiced for h in m.lines):
        return _plan_cancel(inp)

    ret = _returns(inp)
    if _closing(inp, items):
        # Removing the last uninvoiced units closes the order in Heartland, after which nothing on it
        # can change: settle its money first, and only close it once it balances.
        for step in (_plan_charges, _plan_payments):
            result = step(inp, items, ret)
            if result is not None:
                return result
        if _closed_total(m) != m.payments_total:
            # The order stays open for staff, but returns of invoiced units balance on their own tickets:
            # make them, or Heartland keeps money Shopify gave back.
            ticket = _plan_tickets(inp, ret)
            if ticket is not None:
                return ticket
            return Plan(state=PENDING, reasons=(_imbalance(inp, _closed_total(m)),))
        steps = (_plan_lines,)
    else:
        steps = (_plan_lines, _plan_charges, _plan_payments)
    for step in steps:
        result = step(inp, items, ret)
        if result is not None:
            return result
    ticket = _plan_tickets(inp, ret)
    if ticket is not None:
        return ticket

    if m.status == d.status_pending:
        reasons = _pending_reasons(inp, items)
        if reasons:
            return Plan(state=PENDING, reasons=reasons)
        return Plan((SetStatus(m.order_id, d.status_open),), state=CREATING)

    if m.order_total != m.payments_total:
        return Plan(state=PENDING, reasons=(_imbalance(inp, m.order_total),))

    if inp.settings.auto_invoice and m.status == d.status_open:
        invoicing = _plan_invoices(inp)
        if invoicing is not None:
            return invoicing
    if any(ln.location_id is None and ln.qty > ln.qty_invoiced for ln in m.lines):
        return Plan(state=WAITING_STOCK, reasons=(Reason(
            "no_stock", "some lines have no location with stock; staff finish them by hand"),))
    return Plan(state=OPEN)


# -- create ----------------------------------------------------------------------------------------

def _skip_reason(o: ShopifyOrder, s: ShopSettings) -> Reason | None:
    if o.test and s.skip_test_orders:
        return Reason("test_order", "Shopify test order")
    ignored = [t for t in o.tags if t in s.tag_ignore]
    if ignored:
        return Reason("tag_ignored", f"tagged {ignored[0]!r}, which the shop ignores")
    if s.tag_allow and not any(t in s.tag_allow for t in o.tags):
        return Reason("tag_not_allowed", f"none of the tags {list(s.tag_allow)} the shop syncs")
    return None


def _items_or_load(inp: PlanInput) -> dict[int, Item | None] | Plan:
    """Shopify line id -> Heartland item (None = no match and no placeholder)."""
    skus = {ln.sku for ln in inp.order.lines if ln.sku}
    if inp.settings.unknown_item == "placeholder":
        skus.add(inp.settings.placeholder_item)
    if inp.order.refunds:
        skus.add(inp.settings.refund_item)
    if inp.items is None or not skus <= set(inp.items):
        return Plan((LoadItems(tuple(sorted(skus))),), state=CREATING)
    out: dict[int, Item | None] = {}
    for ln in inp.order.lines:
        item = inp.items.get(ln.sku) if ln.sku else None
        if item is None and inp.settings.unknown_item == "placeholder":
            item = inp.items.get(inp.settings.placeholder_item)
        out[ln.id] = item
    return out


def _tracked_items(o: ShopifyOrder, items: Mapping[int, Item | None]) -> tuple[int, ...]:
    """The stocked Heartland items of the order's lines: what its routing reads."""
    return tuple(sorted({it.id for ln in o.lines
                         if ln.current_quantity > 0 and (it := items.get(ln.id)) is not None and it.track_inventory}))


def _plan_create(inp: PlanInput) -> Plan | None:
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


def custom_fields(o: ShopifyOrder, s: ShopSettings) -> dict[str, str]:
    out: dict[str, str] = {}
    for key, source in s.custom_fields.items():
        kind, _, arg = source.partition(":")
        value = ""
        if kind == "const":
            value = arg
        elif kind == "note":
            value = o.note_attributes.get(arg, "")
        elif kind == "tag":
            value = "yes" if arg in o.tags else ""
        elif kind == "shopify":
            value = {"order_id": str(o.id), "name": o.name}.get(arg, "")
        if value:
            out[key] = value
    return out


# -- lines, charges, payments on an editable order ------------------------------------------------

def _refunded_units(o: ShopifyOrder, line_id: int) -> int:
    return sum(rl.quantity for r in o.refunds for rl in r.lines if rl.line_id == line_id)


def _desired_qty(o: ShopifyOrder, ln: ShopifyLine) -> int:
    """Units the customer keeps. A refund may arrive before the orders/updated that lowers
    current_quantity (or after it): whichever says fewer units wins, so both orders converge alike."""
    if o.cancelled:
        return 0
    return max(0, min(ln.current_quantity, ln.quantity - _refunded_units(o, ln.id)))


@dataclass(frozen=True, slots=True)
class Returns:
    """Invoiced units the customer no longer keeps: they can't come off the order, so tickets return them.

    `by_refund`: refund id -> Shopify line id -> units that refund's ticket returns. Each line's
    returned units are given to its refunds newest first: removals take uninvoiced units first, so it
    is the later refunds that reach invoiced ones. `unexplained`: returned units no refund covers yet
    (a cancellation or removal whose refund hasn't arrived).
    """

    by_refund: dict[int, dict[int, int]]
    unexplained: dict[int, int]


def _returns(inp: PlanInput) -> Returns:
    o, m = inp.order, inp.mirror
    by_refund: dict[int, dict[int, int]] = {}
    unexplained: dict[int, int] = {}
    for ln in o.lines:
        invoiced = sum(h.qty_invoiced for h in m.lines_for(ln.id)) + m.sold_for(ln.id)
        need = max(0, invoiced - _desired_qty(o, ln))
        for r in reversed(o.refunds):
            if need <= 0:
                break
            take = min(need, sum(rl.quantity for rl in r.lines if rl.line_id == ln.id))
            if take > 0:
                by_refund.setdefault(r.id, {})[ln.id] = take
                need -= take
        if need > 0:
            unexplained[ln.id] = need
    return Returns(by_refund, unexplained)


@dataclass(frozen=True, slots=True)
class _Goods:
    lines: tuple[TicketLine, ...]   # restocked item lines (negative qty)
    unstocked: Decimal              # value of returned units that are not restocked (no_restock)
    tax: Decimal                    # tax refunded with the returned units (positive)

    @property
    def money(self) -> Decimal:
        return sum((-ln.unit_price * ln.qty for ln in self.lines), ZERO) + self.unstocked + self.tax


def _goods(inp: PlanInput, refund: Refund, units: Mapping[int, int]) -> _Goods:
    """The returned units of one refund at their Heartland prices, with the refund lines' tax."""
    o, m = inp.order, inp.mirror
    lines: list[TicketLine] = []
    unstocked = tax = ZERO
    for line_id in sorted(units):
        left = units[line_id]
        hls = m.lines_for(line_id)
        if hls:
            hl = next((h for h in hls if h.qty_invoiced), hls[0])
            item_id, unit_price = hl.item_id, hl.unit_price
        else:
            sold = _sold_item(inp, line_id)     # units sold on a sale ticket only
            if sold is None:
                continue
            item_id, unit_price = sold
        if left <= 0:
            continue
        for rl in refund.lines:
            if rl.line_id != line_id or rl.quantity <= 0 or left <= 0:
                continue
            n = min(left, rl.quantity)
            left -= n
            tax += rl.tax if n == rl.quantity else (rl.tax * n / rl.quantity).quantize(CENT)
            if rl.restock_type == "no_restock":
                unstocked += unit_price * n   # money only: carried by the refund item, no stock moves
            else:
                lines.append(TicketLine(item_id, -n, unit_price, f"Refund {refund.id} of {o.name}"))
    return _Goods(tuple(lines), unstocked, tax)


def _sold_item(inp: PlanInput, line_id: int) -> tuple[int, Decimal] | None:
    """Item and (average net) unit price of a Shopify line whose units were sold on a sale ticket."""
    if not inp.mirror.sold_for(line_id):
        return None
    ln = next((x for x in inp.order.lines if x.id == line_id), None)
    item = _item_of(inp, ln) if ln is not None else None
    if ln is None or item is None:
        return None
    return item.id, ((ln.price * ln.quantity - ln.discount) / ln.quantity).quantize(CENT)


def _item_of(inp: PlanInput, ln: ShopifyLine) -> Item | None:
    items = inp.items or {}
    item = items.get(ln.sku) if ln.sku else None
    if item is None and inp.settings.unknown_item == "placeholder":
        item = items.get(inp.settings.placeholder_item)
    return item


def _closing(inp: PlanInput, items: Mapping[int, Item | None]) -> bool:
    """Would reaching the target leave no uninvoiced units on an order that has invoiced some? Then
    Heartland closes it on the last shrink, and nothing on it can change afterwards."""
    o, m = inp.order, inp.mirror
    if m.status != inp.dialect.status_open or not any(h.qty_invoiced for h in m.lines):
        return False
    if not any(h.qty > h.qty_invoiced for h in m.lines):
        return False
    for ln in o.lines:
        if items.get(ln.id) is None:
            if any(h.qty > h.qty_invoiced for h in m.lines_for(ln.id)):
                return False
            continue
        if _desired_qty(o, ln) > sum(h.qty_invoiced for h in m.lines_for(ln.id)):
            return False
    return True


def _closed_total(m: Mirror) -> Decimal:
    """The order's total once every line is down to its invoiced units."""
    return (sum((h.unit_price * h.qty_invoiced for h in m.lines), ZERO) + m.tax_total
            + m.shipping_charge).quantize(CENT)


def _imbalance(inp: PlanInput, total: Decimal) -> Reason:
    """An open order whose total and payments differ: say what differs and what in Shopify explains it."""
    o, m = inp.order, inp.mirror
    net = sum((p.amount for p in o.payments), ZERO) - o.refunded
    parts = [f"Heartland order total {total} and payments {m.payments_total} differ by {total - m.payments_total}",
             f"Shopify's current total is {o.current_total_price} and it holds {net} net of refunds"]
    ticketed = {t.refund_id for t in m.tickets}
    for r in o.refunds:
        if r.id in ticketed:
            continue
        explained = sum((rl.subtotal for rl in r.lines), r.shipping) + r.tax
        if r.amount != explained:
            parts.append(f"refund {r.id} of {r.amount} is {r.amount - explained} more than the items, tax and "
                         f"shipping it returns (goodwill or adjustment)")
    for ln in o.lines:
        removed = ln.quantity - _refunded_units(o, ln.id) - ln.current_quantity
        if removed > 0 and not o.cancelled:
            parts.append(f"{ln.sku or ln.title}: {removed} removed in Shopify with no refund (yet)")
    return Reason("refund_on_open_order", "; ".join(parts) + "; staff must balance it")


def _plan_lines(inp: PlanInput, items: Mapping[int, Item | None], ret: Returns | None = None) -> Plan | None:
    o, m = inp.order, inp.mirror
    assert m.order_id is not None
    editable = m.status in (inp.dialect.status_pending, inp.dialect.status_open)
    if not editable:
        return None
    additions: list[tuple[ShopifyLine, Item, tuple[PriceGroup, ...]]] = []
    for ln in o.lines:
        item = items.get(ln.id)
        want = _desired_qty(o, ln)
        have_lines = m.lines_for(ln.id)
        have = sum(h.qty for h in have_lines)
        if item is None:
            continue
        if want > have:
            groups = unit_price_groups(ln.price, ln.quantity, ln.discount)
            additions.append((ln, item, _units_after(groups, have, want - have)))
        elif want < have:
            shrink = _shrink(m.order_id, have_lines, have - want, inp.dialect.line_delete_supported)
            if shrink:
                return Plan(tuple(shrink), state=CREATING)
    orphan = [h for h in m.lines if h.shopify_line_id not in {ln.id for ln in o.lines} and h.qty > h.qty_invoiced]
    if orphan:
        return Plan(tuple(_shrink(m.order_id, (orphan[0],), orphan[0].qty - orphan[0].qty_invoiced,
                                  inp.dialect.line_delete_supported)), state=CREATING)

    undistributed = [h for h in m.lines if h.location_id is None and h.qty_invoiced == 0 and h.qty > 0]
    if not additions and not undistributed:
        return None
    tracked_ids = sorted({it.id for _, it, _ in additions if it.track_inventory} |
                         {h.item_id for h in undistributed})
    if inp.stock is None:
        return Plan((LoadStock(tuple(tracked_ids)),), state=CREATING)

    candidates = allowed_locations(inp.settings, inp.catalog, o.tags)
    demands = [LineDemand(ln.id, it.id, sum(g.qty for g in groups), it.track_inventory, ln.location_id)
               for ln, it, groups in additions]
    # An undistributed Shopify line may be several Heartland lines (one per price group); without
    # splitting they move together, so one Shopify line never ends up partly placed.
    moving: dict[int, list] = {}
    for h in undistributed:
        group = h.id if inp.settings.allow_split else next(
            u.id for u in undistributed if (u.shopify_line_id, u.item_id) == (h.shopify_line_id, h.item_id))
        moving.setdefault(-group, []).append(h)
    demands += [LineDemand(key, hs[0].item_id, sum(h.qty for h in hs), True, None) for key, hs in moving.items()]
    allocations = route(demands, inp.stock, candidates, inp.settings, inp.catalog, o.location_id)

    actions: list[Action] = []
    for ln, it, groups in additions:
        mine = [a for a in allocations if a.key == ln.id]
        for group, loc, qty in _split_groups(groups, [(a.location_id, a.qty) for a in mine]):
            actions.append(AddLine(m.order_id, ln.id, it.id, qty, group.unit_price, ln.price, loc, ln.title))
    for key, hs in moving.items():
        mine = [a for a in allocations if a.key == key and a.location_id is not None]
        if len(mine) == 1 and mine[0].qty == sum(h.qty for h in hs):
            actions.extend(UpdateLine(m.order_id, h.id, location_id=mine[0].location_id) for h in hs)
    return Plan(tuple(actions), state=CREATING) if actions else None


def _units_after(groups: tuple[PriceGroup, ...], skip: int, qty: int) -> tuple[PriceGroup, ...]:
    out = []
    for g in groups:
        if skip >= g.qty:
            skip -= g.qty
            continue
        n = min(g.qty - skip, qty)
        skip = 0
        if n > 0:
            out.append(PriceGroup(n, g.unit_price))
            qty -= n
    return tuple(out)


def _split_groups(groups: tuple[PriceGroup, ...], allocs: list[tuple[int | None, int]]):
    """Pair price groups with location allocations unit by unit: (group, location, qty) runs."""
    gi, ai = 0, 0
    g_left = groups[0].qty if groups else 0
    a_left = allocs[0][1] if allocs else 0
    while gi < len(groups) and ai < len(allocs):
        n = min(g_left, a_left)
        if n:
            yield groups[gi], allocs[ai][0], n
        g_left -= n
        a_left -= n
        if g_left == 0:
            gi += 1
            g_left = groups[gi].qty if gi < len(groups) else 0
        if a_left == 0:
            ai += 1
            a_left = allocs[ai][1] if ai < len(allocs) else 0


def _shrink(order_id: int, lines, units: int, can_delete: bool) -> list[Action]:
    """Take `units` off uninvoiced quantities: undistributed lines first, then the newest lines."""
    out: list[Action] = []
    for h in sorted(lines, key=lambda h: (h.location_id is not None, -h.id)):
        if units <= 0:
            break
        free = h.qty - h.qty_invoiced
        take = min(free, units)
        if take <= 0:
            continue
        units -= take
        if take == h.qty and h.qty_invoiced == 0 and can_delete:
            out.append(DeleteLine(order_id, h.id))
        else:
            out.append(UpdateLine(order_id, h.id, qty=h.qty - take))
    return out[:1]


def _desired_tax(inp: PlanInput) -> Decimal:
    o = inp.order
    if o.taxes_included or o.cancelled:
        return ZERO
    return o.current_total_tax


def _plan_charges(inp: PlanInput, items: Mapping[int, Item | None], ret: Returns | None = None) -> Plan | None:
    m = inp.mirror
    assert m.order_id is not None
    if m.status not in (inp.dialect.status_pending, inp.dialect.status_open):
        return None
    ret = ret or _returns(inp)
    # Invoiced units that tickets return stay on the order, and so does their tax.
    tax = _desired_tax(inp) + sum((_goods(inp, r, ret.by_refund[r.id]).tax for r in inp.order.refunds
                                   if r.id in ret.by_refund), ZERO)
    if m.tax_total != tax:
        return Plan((AddTax(m.order_id, tax - m.tax_total),), state=CREATING)
    # A shipping refund lowers the shipping charge of an order that can still change.
    refunded_shipping = sum((r.shipping for r in inp.order.refunds), ZERO)
    shipping = ZERO if inp.order.cancelled else max(ZERO, inp.order.shipping - refunded_shipping)
    if m.shipping_charge != shipping:
        return Plan((SetShipping(m.order_id, shipping),), state=CREATING)
    return None


def payment_type_for(gateway: str, inp: PlanInput) -> int | None:
    name = inp.settings.payment_types.get(gateway) or inp.settings.payment_types.get("*", "Shopify")
    return inp.catalog.payment_types.get(name)


def _desired_payments(inp: PlanInput, ret: Returns | None = None) -> tuple[dict[int, Decimal], dict[int, Decimal]] | Reason:
    """Net money by Heartland payment type: received in Shopify, less the part of each refund that no
    ticket carries (a ticket carries the invoiced units it returns, with their tax); and of it, what was
    received."""
    out: dict[int, Decimal] = {}
    received: dict[int, Decimal] = {}
    ret = ret or _returns(inp)
    on_ticket = {t.refund_id: -t.total for t in inp.mirror.tickets if t.refund_id is not None}
    entries = [(p.gateway, p.amount) for p in inp.order.payments]
    for r in inp.order.refunds:
        carried = on_ticket[r.id] if r.id in on_ticket else (
            _goods(inp, r, ret.by_refund[r.id]).money if r.id in ret.by_refund else ZERO)
        if r.amount - carried:
            entries.append((r.gateway or (inp.order.payments[0].gateway if inp.order.payments else ""),
                            carried - r.amount))
    for n, (gateway, amount) in enumerate(entries):
        ptid = payment_type_for(gateway, inp)
        if ptid is None:
            return Reason("no_payment_type", f"no Heartland payment type for Shopify gateway {gateway!r}")
        out[ptid] = out.get(ptid, ZERO) + amount
        if n < len(inp.order.payments):
            received[ptid] = received.get(ptid, ZERO) + amount
    return out, received


def _plan_payments(inp: PlanInput, items: Mapping[int, Item | None], ret: Returns | None = None) -> Plan | None:
    m = inp.mirror
    assert m.order_id is not None
    if m.status not in (inp.dialect.status_pending, inp.dialect.status_open):
        return None
    desired = _desired_payments(inp, ret)
    if isinstance(desired, Reason):
        return Plan(state=PENDING, reasons=(desired,))
    desired_net, received = desired
    have: dict[int, Decimal] = {}
    have_received: dict[int, Decimal] = {}
    for p in m.payments:
        have[p.payment_type_id] = have.get(p.payment_type_id, ZERO) + p.amount
        if p.amount > 0:
            have_received[p.payment_type_id] = have_received.get(p.payment_type_id, ZERO) + p.amount
    for ptid in sorted(set(desired_net) | set(have)):
        # Money received goes on as itself and refunds as negative payments, even when both are known at
        # once (an order refunded before it reached Heartland): once the order closes, its negative
        # payments are what says which refunds it already took (_absorbed).
        more = received.get(ptid, ZERO) - have_received.get(ptid, ZERO)
        delta = desired_net.get(ptid, ZERO) - have.get(ptid, ZERO)
        if more > 0 and delta < more:
            return Plan((AddPayment(m.order_id, more, ptid),), state=CREATING)
        if delta:
            return Plan((AddPayment(m.order_id, delta, ptid),), state=CREATING)
    return None


# -- validate -------------------------------------------------------------------------------------

def _pending_reasons(inp: PlanInput, items: Mapping[int, Item | None]) -> tuple[Reason, ...]:
    o, m = inp.order, inp.mirror
    reasons: list[Reason] = []
    missing = [ln.sku or f"line {ln.id}" for ln in o.lines if items.get(ln.id) is None and ln.current_quantity]
    if missing:
        reasons.append(Reason("unknown_item", f"no Heartland item for {', '.join(missing[:5])}"))
    if m.order_total != m.payments_total:
        reasons.append(Reason("total_mismatch",
                              f"order total {m.order_total} does not equal payments {m.payments_total}"))
    custom = custom_fields(o, inp.settings)
    empty = [k for k in inp.catalog.required_custom_fields if not custom.get(k)]
    if empty:
        reasons.append(Reason("required_custom_field",
                              f"required Heartland custom field(s) empty: {', '.join(empty)}"))
    if o.billing_address is None and o.shipping_address is None:
        reasons.append(Reason("missing_addresses", "the order has neither a shipping nor a billing address"))
    return tuple(reasons)


# -- fulfil and invoice ---------------------------------------------------------------------------

def _plan_invoices(inp: PlanInput) -> Plan | None:
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


def _all_invoiced(m: Mirror) -> bool:
    return all(h.qty == h.qty_invoiced for h in m.lines)


# -- tickets: returns of invoiced units, and refunds of a closed order --------------------------------

def _plan_tickets(inp: PlanInput, ret: Returns) -> Plan | None:
    """An order that can still change returns invoiced units on tickets: one per refund, carrying only
    those units and their tax; the rest of the refund stays on the order as a negative payment."""
    ticketed = {t.refund_id for t in inp.mirror.tickets}
    for refund in inp.order.refunds:
        if refund.id in ticketed or refund.id not in ret.by_refund:
            continue
        units = ret.by_refund[refund.id]
        ticket = _ticket_for(inp, refund, units, _goods(inp, refund, units).money)
        if isinstance(ticket, Reason):
            return Plan(state=PENDING, reasons=(ticket,))
        if ticket is not None:
            return Plan((ticket,), state=OPEN)
    return None


def _plan_invoiced(inp: PlanInput, items: Mapping[int, Item | None]) -> Plan:
    """A closed order can't be edited: each Shopify refund not yet on it becomes one return ticket."""
    o, m = inp.order, inp.mirror
    ticketed = {t.refund_id for t in m.tickets}
    ret = _returns(inp)
    absorbed = _absorbed(inp, ret)
    for refund in o.refunds:
        if refund.id in ticketed:
            continue
        units = ret.by_refund.get(refund.id, {})
        money = refund.amount - absorbed.get(refund.id, ZERO)
        if not units and not money:
            continue    # taken in full by the order while it was open
        # A ticket that carries the whole refund carries its shipping's tax as tax, not as refund-item value.
        ticket = _ticket_for(inp, refund, units, money,
                             refund.shipping_tax if not absorbed.get(refund.id) else ZERO)
        if isinstance(ticket, Reason):
            return Plan(state=PENDING, reasons=(ticket,))
        if ticket is not None:
            return Plan((ticket,), state=INVOICED)
    done = CANCELLED if o.cancelled else INVOICED
    reasons: list[Reason] = []
    sales = _plan_sales(inp, items)
    if isinstance(sales, Plan):
        return sales
    if sales:
        return Plan(state=PENDING, reasons=(Reason(
            "addition_to_closed_order",
            f"Shopify added {', '.join(sales)} after Heartland closed the order and no store has them in stock; "
            f"sell them on a ticket or a new order"),))
    if ret.unexplained:
        names = {ln.id: ln.sku or ln.title for ln in o.lines}
        what = ", ".join(f"{names[k]} × {v}" for k, v in sorted(ret.unexplained.items()))
        reasons.append(Reason("return_without_refund",
                              f"{what} no longer on the Shopify order but no refund returns them yet"))
        done = INVOICED
    late = _closed_money_gap(inp)
    if late is not None:
        return Plan(state=PENDING, reasons=(*reasons, late))
    return Plan(state=done, reasons=tuple(reasons))


def _closed_money_gap(inp: PlanInput) -> Reason | None:
    """Once every refund and sale is on a ticket, Heartland (the order's payments and the tickets) holds
    what Shopify does. Money Shopify took later (a sale or capture after Heartland closed the order) has
    nowhere to go on a closed order: say so, with the amounts, for staff to record it by hand."""
    o, m = inp.order, inp.mirror
    received = sum((p.amount for p in o.payments), ZERO)
    shopify = received - o.refunded
    heartland = m.payments_total + sum((t.total for t in m.tickets), ZERO)
    if shopify == heartland:
        return None
    facts = (f"Shopify holds {shopify} (received {received}, refunded {o.refunded}) and Heartland's closed order "
             f"and tickets hold {heartland}")
    if shopify > heartland:
        return Reason("payment_after_close", f"{facts}: {shopify - heartland} was paid after Heartland closed "
                                             f"the order; record it in Heartland by hand")
    return Reason("money_mismatch_after_close", f"{facts}: Heartland holds {heartland - shopify} more; "
                                                f"staff must balance it")


@dataclass(frozen=True, slots=True)
class _Addition:
    line: ShopifyLine
    item: Item
    have: int       # units already on the order or sold on sale tickets
    qty: int        # units to sell


def _additions(inp: PlanInput, items: Mapping[int, Item | None]) -> list[_Addition]:
    """Units Shopify added to an order Heartland closed: more than its lines and sale tickets hold."""
    o, m = inp.order, inp.mirror
    out = []
    for ln in o.lines:
        item = items.get(ln.id)
        if item is None:
            continue
        have = sum(h.qty for h in m.lines_for(ln.id)) + m.sold_for(ln.id)
        want = _desired_qty(o, ln)
        if want > have:
            out.append(_Addition(ln, item, have, want - have))
    return out


def _tax_share(inp: PlanInput, ln: ShopifyLine, start: int, n: int) -> Decimal:
    """Shopify's line tax for units start+1 .. start+n of the line, pro rata; shares of a line add up to it."""
    if inp.order.taxes_included or not ln.quantity:
        return ZERO

    def upto(k: int) -> Decimal:
        return (ln.tax * min(k, ln.quantity) / ln.quantity).quantize(CENT)
    return upto(start + n) - upto(start)


def _plan_sales(inp: PlanInput, items: Mapping[int, Item | None]) -> Plan | list[str]:
    """Units added in Shopify to a closed order are sold on sale tickets, one per store that has them:
    positive item lines at the Shopify unit price (discount allocated), the line tax pro rata, and a
    payment for the total. Returns the plan, or what can't be placed ("SKU × n"; empty: nothing to sell).

    All of an order's sale tickets are planned together from one stock read. Units of an item already
    sold on one of its sale tickets are not routed again: the stock read of the same run still counts
    the units that ticket took, so whatever the first sale couldn't place waits for staff."""
    o, m, s, cat = inp.order, inp.mirror, inp.settings, inp.catalog
    adds = _additions(inp, items)
    if not adds:
        return []
    sold_items = {it.id for t in m.sale_tickets for line_id, _ in t.sold
                  if (it := items.get(line_id)) is not None}
    routable = [a for a in adds if a.item.id not in sold_items]
    unplaced: dict[int, int] = {a.line.id: a.qty for a in adds if a.item.id in sold_items}
    if routable:
        if inp.stock is None:
            return Plan((LoadStock(tuple(sorted({a.item.id for a in routable if a.item.track_inventory}))),),
                        state=INVOICED)
        candidates = allowed_locations(s, cat, o.tags)
        demands = [LineDemand(a.line.id, a.item.id, a.qty, a.item.track_inventory, a.line.location_id)
                   for a in routable]
        allocations = route(demands, inp.stock, candidates, s, cat, o.location_id)
        backorder = cat.locations.get(s.backorder_location or "")
        stations = {loc.id: loc.station_id for loc in candidates}
        lines: dict[int, list[TicketLine]] = {}
        tax: dict[int, Decimal] = {}
        sold: dict[int, dict[int, int]] = {}
        for a in routable:
            ln = a.line
            groups = _units_after(unit_price_groups(ln.price, ln.quantity, ln.discount), a.have, a.qty)
            mine = [(x.location_id, x.qty) for x in allocations if x.key == ln.id]
            pos = a.have
            for group, loc, qty in _split_groups(groups, mine):
                # A ticket sells from stock at once: a backorder location or a store without a station can't.
                if loc is None or (backorder is not None and loc == backorder.id) or stations.get(loc) is None:
                    unplaced[ln.id] = unplaced.get(ln.id, 0) + qty
                    pos += qty
                    continue
                lines.setdefault(loc, []).append(
                    TicketLine(a.item.id, qty, group.unit_price, f"Sale {ln.id} of {o.name}"))
                tax[loc] = tax.get(loc, ZERO) + _tax_share(inp, ln, pos, qty)
                sold.setdefault(loc, {})[ln.id] = sold.get(loc, {}).get(ln.id, 0) + qty
                pos += qty
        if lines:
            gateway = o.payments[0].gateway if o.payments else ""
            ptid = payment_type_for(gateway, inp)
            if ptid is None:
                return Plan(state=PENDING, reasons=(Reason(
                    "no_payment_type", f"no Heartland payment type for Shopify gateway {gateway!r}"),))
            if m.customer_id is None:
                return Plan(state=PENDING, reasons=(Reason("no_customer", "the Heartland order has no customer"),))
            tickets: list[Action] = []
            for n, loc in enumerate(sorted(lines), start=len(m.sale_tickets) + 1):
                station = stations[loc]
                assert station is not None
                total = sum((ln.unit_price * ln.qty for ln in lines[loc]), tax[loc])
                tickets.append(CreateTicket(None, f"{inp.public_id}-S{n}", m.customer_id, station,
                                            tuple(lines[loc]), tax[loc], total, ptid,
                                            sold=tuple(sorted(sold[loc].items())), location_id=loc))
            return Plan(tuple(tickets), state=INVOICED)
    names = {ln.id: ln.sku or ln.title for ln in o.lines}
    return [f"{names[k]} × {v}" for k, v in sorted(unplaced.items()) if v]


def _absorbed(inp: PlanInput, ret: Returns) -> dict[int, Decimal]:
    """Money of refunds not yet ticketed that the order already took as negative payments (made while it
    was open). Each refund's own share first (what its returned invoiced units don't explain), then any
    rest oldest first."""
    o, m = inp.order, inp.mirror
    by_id = {r.id: r for r in o.refunds}
    # Money Shopify received that the order no longer holds, but only as far as negative payments show
    # it (money received later for items a closed order can't take is not a refund).
    left = min(sum((p.amount for p in o.payments), ZERO) - m.payments_total,
               -sum((p.amount for p in m.payments if p.amount < 0), ZERO))
    for t in m.tickets:
        r = by_id.get(t.refund_id) if t.refund_id is not None else None
        if r is not None:
            left -= r.amount + t.total      # the part of a ticketed refund the order took
    ticketed = {t.refund_id for t in m.tickets}
    todo = [r for r in o.refunds if r.id not in ticketed]
    out: dict[int, Decimal] = {}
    for r in todo:
        own = r.amount - (_goods(inp, r, ret.by_refund[r.id]).money if r.id in ret.by_refund else ZERO)
        take = max(ZERO, min(own, left))
        out[r.id] = take
        left -= take
    for r in todo:
        take = max(ZERO, min(r.amount - out[r.id], left))
        out[r.id] += take
        left -= take
    return out


def _ticket_for(inp: PlanInput, refund: Refund, units: Mapping[int, int], money: Decimal,
                extra_tax: Decimal = ZERO) -> CreateTicket | Reason | None:
    """One balanced ticket: the returned units (restocked), the refund's tax for them, `money` paid back,
    and whatever the goods and tax don't explain on the non-inventory refund item."""
    o, m, s, cat = inp.order, inp.mirror, inp.settings, inp.catalog
    loc_key = s.restock_location or s.source_location
    loc = cat.locations.get(loc_key)
    if loc is None or loc.station_id is None or m.customer_id is None:
        return Reason("no_return_location", f"no Heartland location {loc_key!r} with a station for returns")
    refund_item = (inp.items or {}).get(s.refund_item)
    goods = _goods(inp, refund, units)
    lines = list(goods.lines)
    tax = -(goods.tax + extra_tax)
    payment = -money
    value = sum((ln.unit_price * ln.qty for ln in lines), ZERO)
    # Whatever the goods and tax lines don't explain (shipping refunds, no-restock lines, discrepancies)
    # goes on one line of the non-inventory refund item, so the ticket balances and no stock moves.
    gap = payment - (value + tax)
    if gap or (not lines and (payment or tax)):  # money moves (even only tax): the ticket needs a line
        if refund_item is None:
            return Reason("no_refund_item", f"no non-inventory item {s.refund_item!r} for a money-only refund")
        lines.append(TicketLine(refund_item.id, -1, ZERO - gap, f"Refund {refund.id} of {o.name}"))  # never "-0.00"
    if not lines:
        if units:
            return Reason("empty_refund", f"refund {refund.id} moves no goods and no money")
        return None
    gateway = refund.gateway or (o.payments[0].gateway if o.payments else "")
    ptid = payment_type_for(gateway, inp)
    if ptid is None:
        return Reason("no_payment_type", f"no Heartland payment type for Shopify gateway {gateway!r}")
    parent = next((i.id for i in m.invoices if i.completed), None)
    # Numbered by tickets already made, not by the refund's position: a refund delivered late (older
    # than one already ticketed) gets the next number instead of reusing one.
    n = len(m.return_tickets) + 1
    return CreateTicket(refund.id, f"{inp.public_id}-R{n}", m.customer_id, loc.station_id, tuple(lines), tax,
                        payment, ptid, parent, restock=bool(goods.lines) or not units)


# -- cancellation ---------------------------------------------------------------------------------

def _plan_cancel(inp: PlanInput) -> Plan:
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


class _Nobody:
    first_name = ""
    last_name = ""


_NOBODY = _Nobody()
