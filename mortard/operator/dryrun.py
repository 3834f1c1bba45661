"""`mortard orders plan`: what the machine would do to Heartland for one order now, without doing it.

Reads only: the order's Heartland state (rebuilt with its journal, as recovery does:
`sync/recovery.py`), the account's locations, payment types and required custom fields, items by SKU,
stock and customers — the same reads through the same port (`HeartlandGateway`) as `OrderMachine` —
then runs the pure planner until it converges or asks for its first mutation batch, which is
reported and never sent. Nothing is written to Postgres, nothing mutating reaches Heartland (the
catalog is read here without `AccountCatalog.catalog`, which creates missing payment types).
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from mortard.heartland_contract.dialect import Dialect
from mortard.heartland.gateway import HeartlandGateway
from mortard.operator.diff import Names
from mortard.store.order_lookup import OrderRecord
from mortard.sync.actions import Action, FindCustomer, LoadItems, LoadStock, Plan, Reason
from mortard.sync.model import Catalog, InvalidOrder, Item, Location, Mirror, ShopifyOrder, matching_address
from mortard.sync.ports import FoundCustomer, JournalEntry
from mortard.sync.recovery import Unaccounted, open_addresses, rebuild, ticket_names
from mortard.sync.plan import DEAD, PlanInput, plan
from mortard.sync.settings import ShopSettings

MAX_READS = 20  # the planner asks for each read once; a loop means a planner bug, not a slow order


@dataclass
class DryRun:
    public_id: str
    heartland: Mirror | None = None          # what Heartland holds now (None: the order can't be parsed)
    stored: Mirror = field(default_factory=Mirror)   # what Postgres remembers of it
    reads: list[str] = field(default_factory=list)
    plan: Plan = field(default_factory=Plan)
    names: Names = field(default_factory=Names)
    notes: list[str] = field(default_factory=list)

    @property
    def mutations(self) -> tuple[Action, ...]:
        return tuple(a for a in self.plan.actions if a.mutation)


async def dry_run(client: Any, row: OrderRecord, settings: ShopSettings, dialect: Dialect,
                  journal: Sequence[JournalEntry] = (),
                  held_elsewhere: Mapping[tuple[int, int], int] | None = None) -> DryRun:
    """Plan one order against live Heartland reads. `client` is a `HeartlandClient` for the shop's
    account; `journal` the order's journal rows (which Heartland records mortard made);
    `held_elsewhere` the units other orders' runs hold (item, location) → qty, which the order's own
    run could not route either."""
    stored = Mirror.from_json(row.mirror)
    name = row.order_name or f"#{row.order_id}"
    out = DryRun(public_id=f"{settings.order_prefix}{name}", stored=stored)
    if row.snapshot is None:
        out.plan = Plan(state="received", reasons=(Reason(
            "waiting_for_order", "refund or transaction received before the order"),))
        return out
    try:
        order = ShopifyOrder.parse(row.snapshot, row.refunds, row.transactions)
    except InvalidOrder as exc:
        out.plan = Plan(state=DEAD, reasons=(Reason("invalid_order", str(exc)),))
        return out
    out.public_id = f"{settings.order_prefix}{order.name}"
    gateways = {settings.payment_types.get(p.gateway) or settings.payment_types.get("*", "Shopify")
                for p in order.payments}
    catalog, invented = await _read_catalog(client, dialect, gateways)
    out.reads.append("catalog (locations, payment types, required custom fields)")
    for type_name in sorted(invented.values()):
        out.notes.append(f"payment type {type_name!r} does not exist in Heartland yet; mortard would create it")

    heartland = HeartlandGateway(client)
    reading = await heartland.read_order(out.public_id, ticket_names(journal, stored))
    addresses = None
    if reading is None and stored.customer_id is not None and open_addresses(journal, stored):
        addresses = FoundCustomer(stored.customer_id, await heartland.customer_addresses(stored.customer_id))
    recovered = rebuild(reading, journal, stored, addresses)
    if isinstance(recovered, Unaccounted):
        out.plan = Plan(state=DEAD, reasons=(Reason("heartland_unaccounted", recovered.message),))
        return out
    mirror = recovered.mirror
    out.reads.append(f"sales order {out.public_id!r} with its lines, taxes, payments, invoices and tickets"
                     if mirror.order_id is not None else f"sales order {out.public_id!r} (not found)")
    out.heartland = mirror

    items: dict[str, Item | None] | None = None
    stock: dict[tuple[int, int], int] | None = None
    p = Plan()
    for _ in range(MAX_READS):
        p = plan(PlanInput(order, mirror, settings, catalog, dialect, items, stock,
                           staff_payments=mirror.staff_payment_ids))
        if p.converged or any(a.mutation for a in p.actions):
            break
        action = p.actions[0]
        if isinstance(action, LoadItems):
            items = {**(items or {}), **await heartland.items(action.skus, settings.item_match)}
            missing = sorted(s for s in action.skus if items.get(s) is None)
            out.reads.append(f"items {', '.join(action.skus)}" + (f" (not found: {', '.join(missing)})" if missing else ""))
        elif isinstance(action, LoadStock):
            stock = await heartland.stock(action.item_ids)
            held = {u: q for u, q in (held_elsewhere or {}).items() if u in stock}
            stock = {u: q - held.get(u, 0) for u, q in stock.items()}
            out.reads.append(f"stock of {len(action.item_ids)} item(s)"
                             + (f" ({sum(held.values())} unit(s) held by other orders' runs left out)" if held else ""))
        elif isinstance(action, FindCustomer):
            mirror, said = await _find_customer(heartland, mirror, action, settings, order)
            out.reads.append(said)
        else:
            raise TypeError(f"dry run has no read for {type(action).__name__}")
    else:
        out.notes.append(f"the planner still asked for reads after {MAX_READS} of them; stopped")
    out.plan = p
    out.names = _names(catalog, items or {}, invented, order)
    out.heartland = mirror
    return out


async def _read_catalog(client: Any, dialect: Dialect, wanted_types: set[str]) -> tuple[Catalog, dict[int, str]]:
    """`AccountCatalog._load` without its one write: a missing payment type gets a stand-in id (< 0)."""
    locations = {}
    for loc in await client.list_locations():
        stations = loc.get("stations") or []
        locations[str(loc["public_id"])] = Location(int(loc["id"]), str(loc["public_id"]), str(loc.get("name", "")),
                                                    int(stations[0]["id"]) if stations else None)
    types = {str(t["name"]): int(t["id"]) for t in await client.list_payment_types()}
    invented: dict[int, str] = {}
    for n, type_name in enumerate(sorted(wanted_types - set(types)), start=1):
        types[type_name] = -n
        invented[-n] = type_name
    required = tuple(sorted(str(f["key"]) for f in await client.list_custom_fields(
        group_id=dialect.order_custom_field_group, required=True) if f.get("required")))
    return Catalog(locations=locations, payment_types=types, required_custom_fields=required), invented


async def _find_customer(heartland: HeartlandGateway, mirror: Mirror, action: FindCustomer,
                         settings: ShopSettings, order: ShopifyOrder) -> tuple[Mirror, str]:
    """As `OrderMachine._find_customer`, minus saving the mirror."""
    tried = [f"{rule} {value}" for rule in settings.customer_match
             if (value := action.email if rule == "email" else action.phone)]
    found = await heartland.find_customer(settings.customer_match, action.email, action.phone)
    mirror = replace(mirror, customer_searched=True, customer_id=found.customer_id)
    if found.customer_id is None:
        return mirror, f"customers by {' then '.join(tried) or 'nothing (no email or phone)'} (none found)"
    listed = [{"id": ident, **a.as_heartland()} for ident, a in found.addresses]
    mirror = replace(mirror, billing_address_id=matching_address(order.billing_address, listed),
                     shipping_address_id=matching_address(order.shipping_address, listed))
    return mirror, f"customers by {' then '.join(tried)} (found customer {found.customer_id}) and their addresses"


def _names(catalog: Catalog, items: Mapping[str, Item | None], invented: Mapping[int, str],
           order: ShopifyOrder) -> Names:
    return Names(
        locations={loc.id: loc.public_id for loc in catalog.locations.values()},
        items={it.id: sku for sku, it in items.items() if it is not None},
        payment_types={**{v: k for k, v in catalog.payment_types.items()}, **invented},
        lines={ln.id: ln.sku or ln.title for ln in order.lines if ln.sku or ln.title},
    )
