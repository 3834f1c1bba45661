"""Changes after an order is placed (issue #5), end to end: Kafka → inbox → planner → sandbox → Postgres.

Every Heartland state (open, partially invoiced, fully invoiced, pending) crossed with every change.
The orders of one state run side by side in one stack, so the whole matrix costs a few seconds.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any

from mortard.heartland_contract.dialect import DEFAULT_DIALECT
from mortard.testing.shopify import LineSpec, OrderSpec, order_payload, refund_payload, webhook
from stack import SHOP, Stack

D = Decimal
A, B, C, NONE = "SKU-0101", "SKU-0102", "SKU-0103", "SKU-0104"   # NONE: out of stock everywhere
CHANGES = ["line_added", "line_removed", "qty_down", "qty_up", "refund_restock", "refund_no_restock",
           "shipping_refund", "cancel", "exchange"]


async def stock_everything(stack: Stack) -> None:
    rows = [{"item": sku, "location": loc, "on_hand": 50 if sku != NONE else 0}
            for sku in (A, B, C, NONE) for loc in ("S01", "S02", "S03")]
    await stack.set_stock(rows)


@dataclass
class Case:
    state: str
    change: str
    spec: OrderSpec
    final: dict[str, Any]
    refunds: list[dict[str, Any]]
    restocked: int            # units a ticket puts back at ONLINE
    sync_state: str
    tickets: int              # return tickets (-R<n>)
    sold: int = 0             # units sold on a sale ticket (-S1): added in Shopify after Heartland closed


def build(state: str, change: str, order_id: int) -> Case:
    second = NONE if state == "partial" else B
    # "pending" is unpaid; "pending_paid" is paid but has no address, so refunds can reach it.
    spec = OrderSpec(order_id, order_id, [LineSpec(A, 2, D("20.00")), LineSpec(second, 2, D("30.00"))],
                     shipping=D("7.50"), tax_rate=D("0.10"), paid=state != "pending",
                     addresses="none" if state == "pending_paid" else "both")
    refunds: list[dict[str, Any]] = []
    quantities: dict[str, int] = {}
    cancelled = False
    final_spec = spec
    rid = order_id * 10
    # Which line a reduction hits: on a partially invoiced order the invoiced one (A), so it needs a ticket.
    if change == "line_added":
        final_spec = replace(spec, lines=spec.lines + [LineSpec(C, 1, D("10.00"))])
    elif change == "qty_up":
        final_spec = replace(spec, lines=[replace(spec.lines[0], qty=3), spec.lines[1]])
    elif change in ("line_removed", "qty_down", "refund_restock", "refund_no_restock", "exchange"):
        units = 2 if change == "line_removed" else 1
        kind = {"refund_no_restock": "no_restock", "refund_restock": "return"}.get(change, "cancel")
        if state != "pending":
            refunds.append(refund_payload(spec, rid, {A: (units, kind)}))
        quantities = {A: 2 - units}
        if change == "exchange":
            final_spec = replace(spec, lines=spec.lines + [LineSpec(C, 1, D("10.00"))])
    elif change == "shipping_refund":
        refunds.append(refund_payload(spec, rid, {}, shipping=D("7.50")))
    elif change == "cancel":
        cancelled = True
        quantities = {A: 0, second: 0}
        if state != "pending":
            refunds.append(refund_payload(spec, rid, {A: (2, "cancel"), second: (2, "cancel")}, shipping=D("7.50")))
    final = order_payload(final_spec, refunds=refunds, quantities=quantities, cancelled=cancelled,
                          updated_at=None)
    final["updated_at"] = "2026-11-28T10:00:00+00:00"
    reduced_a = 2 - quantities.get(A, 2)
    invoiced_a = state in ("partial", "closed")
    restocked = reduced_a if invoiced_a and change not in ("refund_no_restock",) and refunds else 0
    if state == "closed" and change == "cancel":
        restocked = 4             # both lines were invoiced
    tickets = 1 if refunds and (state == "closed" or (state == "partial" and (reduced_a or change == "cancel"))) else 0
    if state == "closed" and change == "shipping_refund":
        tickets = 1
    sync = {"open": "open", "pending": "pending", "pending_paid": "pending", "partial": "waiting_stock",
            "closed": "invoiced"}[state]
    if change == "cancel":
        sync = "cancelled"
    elif state == "pending" and change in ("line_removed",):
        sync = "pending"
    # Items can't be added to a closed order: the added units are sold on a sale ticket from a store.
    sold = 1 if state == "closed" and change in ("line_added", "qty_up", "exchange") else 0
    return Case(state, change, spec, final, refunds, restocked, sync, tickets, sold)


async def run_matrix(stack: Stack, cases: list[Case]) -> None:
    await stack.send([webhook("orders/create", SHOP, order_payload(c.spec)) for c in cases])
    await stack.wait_settled(len(cases))
    # Each change: the refund and the orders/updated, in either order, the refund delivered twice.
    hooks = []
    for i, c in enumerate(cases):
        upd = webhook("orders/updated", SHOP, c.final)
        refs = [webhook("refunds/create", SHOP, r) for r in c.refunds]
        hooks += ([upd, *refs, *refs] if i % 2 else [*refs, upd, *refs])
    await stack.send(hooks)


async def check(stack: Stack, cases: list[Case], before: dict) -> None:
    import asyncio
    await asyncio.sleep(1.0)   # let the consumer land the change events before waiting for quiet
    rows = {r["order_id"]: r for r in await stack.wait_settled(len(cases), timeout=60)}
    state = await stack.state()
    stock = await stack.stock()
    orders = {o["public_id"]: o for o in state["orders"]}
    goods = {r["item_id"] for r in state["inventory"] if r["item"] in (A, B, C, NONE)}
    stores = {r["location_id"] for (sku, loc), r in stock.items() if loc in ("S01", "S02", "S03")}
    sold_at: dict[tuple[int, int], int] = {}
    for c in cases:
        label = f"{c.state}/{c.change}"
        row = rows[c.spec.order_id]
        o = orders[c.spec.name]
        tickets = [t for t in state["tickets"] if t["public_id"].startswith(f"{c.spec.name}-R")]
        sales = [t for t in state["tickets"] if t["public_id"].startswith(f"{c.spec.name}-S")]
        assert row["sync_state"] == c.sync_state, (label, row["sync_state"], row["pending_reasons"])
        assert len(tickets) == c.tickets, (label, tickets)
        assert all(t["total"] == sum(p["amount"] for p in t["payments"]) for t in tickets + sales), label
        assert [t["public_id"] for t in sales] == ([f"{c.spec.name}-S1"] if c.sold else []), (label, sales)
        for t in sales:
            assert t["type"] == "Ticket" and t["source_location_id"] in stores, (label, t)
            assert all(ln["qty"] > 0 and ln["description"].startswith("Sale ") for ln in t["lines"]
                       if ln["type"] == "ItemLine"), (label, t)
            assert sum(ln["qty"] for ln in t["lines"] if ln["type"] == "ItemLine") == c.sold, (label, t)
            for ln in t["lines"]:
                if ln["type"] == "ItemLine":
                    sold_at[(ln["item_id"], t["source_location_id"])] = (
                        sold_at.get((ln["item_id"], t["source_location_id"]), 0) + ln["qty"])
        received = D(c.final["total_price"]) if c.spec.paid else D("0")
        refunded = sum((D(t["amount"]) for r in c.refunds for t in r["transactions"]), D("0"))
        held = o["payments_total"] + sum((t["total"] for t in tickets + sales), D("0"))
        if c.sync_state != "pending" or c.state.startswith("pending"):
            assert held == received - refunded, (label, held, received, refunded)
        if o["status"] in ("open", "pending") and c.sync_state != "pending":
            assert o["total"] == o["payments_total"], label
        if c.sync_state in ("open", "waiting_stock", "invoiced") and not tickets and not sales:
            assert o["total"] == D(c.final["current_total_price"]), (label, o["total"], c.final["current_total_price"])
        if c.change == "cancel" and c.state in ("open", "pending", "pending_paid"):
            assert o["status"] == "canceled", label
        if c.change == "cancel" and c.state in ("partial", "closed"):
            assert o["status"] == "closed" and held == 0, label
        returned = -sum(ln["qty"] for t in tickets for ln in t["lines"]
                        if ln["type"] == "ItemLine" and ln["item_id"] in goods)
        assert returned == c.restocked, (label, returned, c.restocked, tickets)
        if tickets:
            assert all(t["source_location_id"] == 1 and t["type"] == "Return" for t in tickets
                       if any(ln.get("qty", 0) < 0 for ln in t["lines"])), label
            invoice_ids = set(o["invoice_ids"])
            if DEFAULT_DIALECT.ticket_parent_field:   # returns are linked only where writing the link is assumed
                assert all(t[DEFAULT_DIALECT.ticket_parent_field] in invoice_ids for t in tickets), label
    # Stock: every unit restocked came back to the order-source location (ONLINE), none elsewhere.
    restocked = sum(c.restocked for c in cases)
    online = sum(r["qty_on_hand"] for (sku, loc), r in stock.items() if loc == "ONLINE" and sku in (A, B))
    assert online - before.get("online", 0) == restocked
    # Stock at the stores: 50 each, less what invoices shipped and sale tickets sold there.
    invoiced_at: dict[tuple[int, int], int] = {}
    for o in state["orders"]:
        for ln in o["lines"]:
            if ln["ship_from_location_id"] is not None:
                key = (ln["item_id"], ln["ship_from_location_id"])
                invoiced_at[key] = invoiced_at.get(key, 0) + ln["qty_invoiced"]
    for (sku, loc), r in stock.items():
        if sku in (A, B, C) and r["location_id"] in stores:
            key = (r["item_id"], r["location_id"])
            assert r["qty_on_hand"] == 50 - invoiced_at.get(key, 0) - sold_at.get(key, 0), (sku, loc, r)
    assert sum(sold_at.values()) == sum(c.sold for c in cases)
    # Nothing invoiced twice, nothing committed by cancelled or closed orders.
    for (sku, loc), r in stock.items():
        if sku in (A, B, C):
            assert r["qty_on_hand"] >= 0 and r["qty_committed"] >= 0


async def test_changes_to_open_and_pending_orders(make):
    stack = await make(shop_settings={"auto_invoice": False})
    await stock_everything(stack)
    await stack.start_daemon()
    cases = [build("open", ch, 5100 + i) for i, ch in enumerate(CHANGES)]
    cases += [build("pending", ch, 5200 + i) for i, ch in enumerate(CHANGES)
              if ch in ("line_added", "line_removed", "qty_down", "qty_up", "cancel")]
    cases += [build("pending_paid", ch, 5250 + i) for i, ch in enumerate(CHANGES)]
    await run_matrix(stack, cases)
    await check(stack, cases, {})
    stock = await stack.stock()
    committed = sum(r["qty_committed"] for (sku, loc), r in stock.items() if sku in (A, B, C))
    open_units = sum(ln["qty"] for o in (await stack.state())["orders"] if o["status"] == "open" for ln in o["lines"])
    assert committed == open_units


async def test_changes_to_partially_and_fully_invoiced_orders(make):
    stack = await make()
    await stock_everything(stack)
    await stack.start_daemon()
    cases = [build("partial", ch, 5300 + i) for i, ch in enumerate(CHANGES)]
    cases += [build("closed", ch, 5400 + i) for i, ch in enumerate(CHANGES)]
    await run_matrix(stack, cases)
    await check(stack, cases, {})
    docs = await stack.pool.fetch("SELECT public_id, count(*) AS n FROM heartland_documents WHERE kind = 'ticket' "
                                  "GROUP BY public_id")
    assert docs and all(d["n"] == 1 for d in docs)


async def test_a_long_sequence_with_duplicated_and_out_of_order_deliveries_ends_like_a_clean_run(make):
    """create → partially invoiced → edit (line added) → refund of an invoiced unit → cancellation."""
    from datetime import timedelta

    from mortard.testing.shopify import T0

    stack = await make()
    await stock_everything(stack)
    await stack.start_daemon()

    def steps(order_id: int) -> list[list]:
        spec = OrderSpec(order_id, order_id, [LineSpec(A, 2, D("20.00")), LineSpec(NONE, 1, D("30.00"))],
                         shipping=D("5.00"), tax_rate=D("0.10"))
        edited = replace(spec, lines=spec.lines + [LineSpec(C, 1, D("10.00"))])
        r1 = refund_payload(edited, order_id * 10 + 1, {A: (1, "return")}, created_at=T0 + timedelta(hours=3))
        r2 = refund_payload(edited, order_id * 10 + 2, {A: (1, "cancel"), NONE: (1, "cancel"), C: (1, "cancel")},
                            shipping=D("5.00"), created_at=T0 + timedelta(hours=4))
        at = lambda h: T0 + timedelta(hours=h)   # noqa: E731
        return [
            [webhook("orders/create", SHOP, order_payload(spec))],
            [webhook("orders/updated", SHOP, order_payload(edited, updated_at=at(2)))],
            [webhook("refunds/create", SHOP, r1),
             webhook("orders/updated", SHOP, order_payload(edited, updated_at=at(3), refunds=[r1], quantities={A: 1}))],
            [webhook("refunds/create", SHOP, r2),
             webhook("orders/updated", SHOP, order_payload(edited, updated_at=at(4), refunds=[r1, r2], cancelled=True,
                                                           quantities={A: 0, NONE: 0, C: 0}))],
        ]

    clean, noisy = steps(6001), steps(6002)
    await stack.send(clean[0] + noisy[0])
    await stack.wait_settled(2)
    await stack.send(clean[1])
    # Noisy: the edit and the refund arrive together, newest first, each twice.
    await stack.send(list(reversed(noisy[1] + noisy[2])) + noisy[2] + noisy[1])
    import asyncio
    await asyncio.sleep(0.5)
    await stack.wait_settled(2)
    await stack.send(clean[2])
    await asyncio.sleep(0.5)
    await stack.wait_settled(2)
    await stack.send(clean[3])
    await stack.send(list(reversed(noisy[3])) + noisy[3] + noisy[0] + noisy[2])   # and old ones again
    await asyncio.sleep(1.0)
    rows = await stack.wait_settled(2, states=("cancelled",))
    assert [r["sync_state"] for r in rows] == ["cancelled", "cancelled"], [dict(r) for r in rows]

    state = await stack.state()

    def summary(name: str) -> tuple:
        o = next(o for o in state["orders"] if o["public_id"] == name)
        tickets = sorted((t for t in state["tickets"] if t["public_id"].startswith(name + "-")),
                         key=lambda t: t["public_id"])
        return (o["status"], sorted((ln["item_id"], ln["qty"], ln["qty_invoiced"]) for ln in o["lines"]),
                o["total"], o["payments_total"],
                [(t["total"], sorted((ln.get("item_id") or 0, ln.get("qty") or 0, ln["value"]) for ln in t["lines"])) for t in tickets])

    assert summary("#6001") == summary("#6002")
    status, lines, total, paid, tickets = summary("#6001")
    assert status == "closed" and len(tickets) == 2
    assert paid + sum(t[0] for t in tickets) == 0     # everything refunded: Heartland holds nothing
    docs = await stack.pool.fetch("SELECT public_id FROM heartland_documents WHERE kind = 'ticket'")
    assert sorted(d["public_id"] for d in docs) == ["#6001-R1", "#6001-R2", "#6002-R1", "#6002-R2"]


async def test_return_tickets_land_at_the_restock_location_and_stock_comes_back_there(make):
    stack = await make(shop_settings={"restock_location": "S02"})
    await stock_everything(stack)
    await stack.start_daemon()
    spec = OrderSpec(5500, 5500, [LineSpec(A, 2, D("20.00")), LineSpec(B, 2, D("30.00"))],
                     shipping=D("7.50"), tax_rate=D("0.10"), addresses="both")
    await stack.send([webhook("orders/create", SHOP, order_payload(spec))])
    await stack.wait_settled(1)
    before = await stack.stock()
    r = refund_payload(spec, 55001, {A: (1, "return"), B: (2, "return")})
    final = order_payload(spec, refunds=[r], quantities={A: 1, B: 0}, updated_at=None)
    final["updated_at"] = "2026-11-28T10:00:00+00:00"
    await stack.send([webhook("refunds/create", SHOP, r), webhook("orders/updated", SHOP, final),
                      webhook("refunds/create", SHOP, r)])
    import asyncio
    await asyncio.sleep(1.0)
    (row,) = await stack.wait_settled(1, timeout=60)
    assert row["sync_state"] == "invoiced", (row["sync_state"], row["pending_reasons"])
    state = await stack.state()
    after = await stack.stock()
    o = next(o for o in state["orders"] if o["public_id"] == spec.name)
    assert o["status"] == "closed"
    (t,) = [t for t in state["tickets"] if t["public_id"].startswith(spec.name + "-")]
    s02 = before[(A, "S02")]["location_id"]
    assert t["public_id"] == f"{spec.name}-R1" and t["type"] == "Return"
    assert t["source_location_id"] == s02 and t["station_id"] == s02   # station id = location id in the fixture
    assert t["total"] == sum(p["amount"] for p in t["payments"]) == -D(r["transactions"][0]["amount"])
    # The returned units are back on hand at S02, and nowhere else.
    for (sku, loc), rw in after.items():
        if sku in (A, B):
            back = {A: 1, B: 2}[sku] if loc == "S02" else 0
            assert rw["qty_on_hand"] == before[(sku, loc)]["qty_on_hand"] + back, (sku, loc)
    held = o["payments_total"] + t["total"]
    assert held == D(final["total_price"]) - D(r["transactions"][0]["amount"])
