"""OrderMachine against an in-memory Heartland port and store: no servers. A write whose answer is
lost (it landed, or it did not) is settled by re-reading Heartland's documented fields with the
journal, and is re-sent only when it did not land."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import pytest

from mortard.testing.shopify import order_payload, refund_payload
from mortard.heartland_contract.dialect import DEFAULT_DIALECT as DIALECT
from mortard.heartland_contract.errors import HeartlandAmbiguous
from mortard.sync.actions import Action, AddAddress
from mortard.sync.apply import apply_result
from mortard.sync.journal import AMBIGUOUS, RESOLVED, SENT
from mortard.sync.machine import OrderMachine, ShopRuntime
from mortard.sync.model import Address, Mirror
from mortard.sync.ports import FoundCustomer, JournalEntry
from mortard.store.orders import OrderRow
from test_sync_changes import BIGGER, CATALOG, EAST, ITEMS, SETTINGS, SPEC
from test_sync_recovery import documented

SHOP = "shop.example"
CREATES = {"create_customer", "add_address", "create_order", "add_line", "add_tax", "add_payment",
           "create_invoice", "add_invoice_line", "create_ticket"}


@dataclass
class Port:
    """Heartland as the port sees it: mutations applied to one held order; chosen sends fail
    ambiguously, after landing or before."""

    land_then_fail: set[str] = field(default_factory=set)    # action kinds: applied, answer lost
    fail_unlanded: set[str] = field(default_factory=set)     # action kinds: never applied
    held: Mirror = field(default_factory=Mirror)
    next_id: int = 5000
    sent: list[Action] = field(default_factory=list)
    addresses: list[tuple[int, Address]] = field(default_factory=list)
    dialect: Any = DIALECT

    async def catalog(self, payment_types):
        return CATALOG

    async def items(self, skus, match):
        return {s: ITEMS.get(s) for s in skus}

    async def stock(self, item_ids):
        return {(i, EAST): 100 for i in item_ids}

    async def find_customer(self, rules, email, phone):
        return FoundCustomer(None)

    async def customer_addresses(self, customer_id):
        return tuple(self.addresses)

    async def read_order(self, public_id, ticket_public_ids):
        if self.held.order_id is None:
            return None
        reading = documented(self.held)
        names = set(ticket_public_ids)
        return type(reading)(**{**{f: getattr(reading, f) for f in reading.__dataclass_fields__},
                                "tickets": tuple(t for t in reading.tickets if t.public_id in names)})

    async def send(self, mirror, action):
        if action.kind in self.fail_unlanded:
            self.fail_unlanded.discard(action.kind)
            raise HeartlandAmbiguous("timed out before Heartland took it")
        new_id = None
        if action.kind in CREATES:
            self.next_id += 1
            new_id = self.next_id
        self.sent.append(action)
        if isinstance(action, AddAddress):
            self.addresses.append((new_id, Address(**action.fields)))
        self.held = apply_result(self.held, action, new_id, DIALECT)
        if action.kind in self.land_then_fail:
            self.land_then_fail.discard(action.kind)
            raise HeartlandAmbiguous("connection reset after the write")
        return new_id, None


@dataclass
class Store:
    """The journal and the order row in memory, as store/orders.py keeps them in Postgres."""

    owner: str = "test"
    lease_s: float = 60.0
    rows: dict[int, dict[str, Any]] = field(default_factory=dict)
    finished: list[dict[str, Any]] = field(default_factory=list)

    def _insert(self, planned) -> list[int]:
        ids = []
        for p in planned:
            ident = len(self.rows) + 1
            self.rows[ident] = {"action": p.action, "request": json.loads(p.request), "status": SENT, "heartland_id": None}
            ids.append(ident)
        return ids

    def _answers(self, outcomes) -> None:
        for o in outcomes:
            row = self.rows[o.journal_id]
            row["status"] = o.status
            row["heartland_id"] = o.heartland_id if o.heartland_id is not None else row["heartland_id"]

    async def journal(self, shop, order_id, planned):
        return self._insert(planned)

    async def record(self, shop, order_id, *, outcomes, planned, mirror, heartland_order_id, mirror_dirty, resolve):
        self._answers(outcomes)
        if resolve:
            answered = {o.journal_id for o in outcomes}
            for ident, row in self.rows.items():
                if row["status"] in (SENT, AMBIGUOUS) and ident not in answered:
                    row["status"] = RESOLVED
        return self._insert(planned)

    async def finish(self, shop, order_id, **kw):
        self._answers(kw.get("outcomes") or ())
        self.finished.append(kw)
        return False

    async def journal_entries(self, shop, order_id):
        return [JournalEntry(i, r["action"], r["request"], r["status"], r["heartland_id"])
                for i, r in sorted(self.rows.items())]

    async def note(self, *a, **kw):
        pass

    async def release(self, *a, **kw):
        pass


def row(payload: dict[str, Any], refunds: dict[str, Any] | None = None, mirror: Mirror | None = None) -> OrderRow:
    return OrderRow(SHOP, payload["id"], payload["name"], payload, refunds or {}, {}, "received",
                    (mirror or Mirror()).to_json(), False, 0, 0, 1, datetime.now(timezone.utc))


async def converge(port: Port, store: Store, r: OrderRow) -> str:
    machine = OrderMachine(store, {SHOP: ShopRuntime(SETTINGS, "acme", port)}, DIALECT)
    await machine.run(SHOP, r.order_id, r)
    return store.finished[-1]["state"]


def kinds(port: Port) -> list[str]:
    return [a.kind for a in port.sent]


@pytest.mark.parametrize("kind", ["add_address", "create_order", "add_line", "add_payment", "create_invoice",
                                  "add_invoice_line", "complete_invoice"])
async def test_a_write_that_landed_but_lost_its_answer_is_not_sent_again(kind):
    clean, faulty = Port(), Port(land_then_fail={kind})
    assert await converge(clean, Store(), row(order_payload(SPEC))) == "invoiced"
    assert await converge(faulty, Store(), row(order_payload(SPEC))) == "invoiced"
    assert not faulty.land_then_fail, f"{kind} was never sent"
    assert kinds(faulty) == kinds(clean)
    assert documented(faulty.held) == documented(clean.held)


@pytest.mark.parametrize("kind", ["create_order", "add_line", "add_payment", "create_invoice", "add_invoice_line"])
async def test_a_write_that_did_not_land_is_sent_again_once(kind):
    clean, faulty = Port(), Port(fail_unlanded={kind})
    await converge(clean, Store(), row(order_payload(SPEC)))
    assert await converge(faulty, Store(), row(order_payload(SPEC))) == "invoiced"
    # the same requests landed, once each (a line re-sent after the tax and payment sent with it)
    assert sorted(kinds(faulty)) == sorted(kinds(clean))


async def test_a_return_ticket_that_landed_unseen_is_not_made_twice():
    port, store = Port(), Store()
    assert await converge(port, store, row(order_payload(BIGGER))) == "invoiced"
    refund = refund_payload(BIGGER, 9001, {"TEE": (1, "return")})
    port.land_then_fail = {"create_ticket"}
    after = row(order_payload(BIGGER, refunds=[refund], quantities={"TEE": 1}), {"9001": refund},
                mirror=port.held)
    assert await converge(port, store, after) == "invoiced"
    assert kinds(port).count("create_ticket") == 1 and len(port.held.return_tickets) == 1
