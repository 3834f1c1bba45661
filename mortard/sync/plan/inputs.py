"""What the planner is given, and what it reads off it: the Shopify order's wanted units per line,
its Heartland items, payment types and custom fields. The sync states it answers with are named here
(declared in sync/states.py).
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from mortard.heartland_contract.dialect import Dialect
from mortard.sync.actions import LoadItems, Plan
from mortard.sync.model import Catalog, Item, Mirror, ShopifyLine, ShopifyOrder, Stock
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
    # Payments on the Heartland order that staff made, not mortard (ids; sync/recovery.py tells them
    # apart by mortard's journal, and the mirror keeps the mark). They are Heartland's: never taken
    # off, and counted toward the money Shopify says was paid, so that money is not added twice.
    staff_payments: frozenset[int] = frozenset()

    @property
    def public_id(self) -> str:
        return f"{self.settings.order_prefix}{self.order.name}"


def refunded_units(o: ShopifyOrder, line_id: int) -> int:
    if not o.refunds:
        return 0
    return sum(rl.quantity for r in o.refunds for rl in r.lines if rl.line_id == line_id)


def desired_qty(o: ShopifyOrder, ln: ShopifyLine) -> int:
    """Units the customer keeps. A refund may arrive before the orders/updated that lowers
    current_quantity (or after it): whichever says fewer units wins, so both orders converge alike."""
    if o.cancelled:
        return 0
    return max(0, min(ln.current_quantity, ln.quantity - refunded_units(o, ln.id)))


def items_or_load(inp: PlanInput) -> dict[int, Item | None] | Plan:
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


def tracked_items(o: ShopifyOrder, items: Mapping[int, Item | None]) -> tuple[int, ...]:
    """The stocked Heartland items of the order's lines: what its routing reads."""
    return tuple(sorted({it.id for ln in o.lines
                         if ln.current_quantity > 0 and (it := items.get(ln.id)) is not None and it.track_inventory}))


def item_of(inp: PlanInput, ln: ShopifyLine) -> Item | None:
    items = inp.items or {}
    item = items.get(ln.sku) if ln.sku else None
    if item is None and inp.settings.unknown_item == "placeholder":
        item = items.get(inp.settings.placeholder_item)
    return item


def payment_type_for(gateway: str, inp: PlanInput) -> int | None:
    name = inp.settings.payment_types.get(gateway) or inp.settings.payment_types.get("*", "Shopify")
    return inp.catalog.payment_types.get(name)


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

