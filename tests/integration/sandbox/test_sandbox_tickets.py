"""Tickets: sales and returns move stock at the station's location, with the no-restock and REFUND cases."""
from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from sandbox_helpers import Api, Sandbox

REFUND = 321  # the fixture's non-inventory REFUND item in acme


def _ticket(public_id: str, lines: list[tuple[int, int, float]], *, tax: float = 0,
            **extra: Any) -> dict[str, Any]:
    total = sum(Decimal(str(p)) * q for _, q, p in lines) + Decimal(str(tax))
    body = {"public_id": public_id, "station_id": 2, "status": "complete",
            "item_lines": [{"type": "ItemLine", "item_id": i, "qty": q, "unit_price": p} for i, q, p in lines],
            "tax_lines": [{"type": "TaxLine", "description": "Sales Tax", "value": tax}] if tax else [],
            "payments": [{"type": "Payments::ExternalPayment", "payment_type_id": 1,
                          "amount": float(total), "deposit": False}]}
    return {**body, **extra}


@pytest.fixture
async def stocked(sandbox: Sandbox) -> Sandbox:
    await sandbox.control("PUT", "accounts/acme/inventory", {"item": "SKU-0001", "location": "S01", "on_hand": 5})
    return sandbox


async def test_return_ticket_restocks_at_the_station_location(stocked: Sandbox, acme: Api) -> None:
    ticket = await acme.create("/sales/tickets", _ticket("#1001-R1", [(1, -2, 116)], tax=-9.28))
    assert (await stocked.stock("acme", "SKU-0001", "S01"))["qty_on_hand"] == 7
    got = await acme.get(f"/sales/tickets/{ticket}", **{"_include[]": "lines"})
    assert got["type"] == "Return" and got["source_location_id"] == 2
    assert got["total"] == Decimal("-241.28") and len(got["lines"]) == 2
    found = await acme.get("/sales/tickets", _filter={"public_id": "#1001-R1"})
    assert [t["id"] for t in found["results"]] == [ticket]


async def test_no_restock_return_leaves_stock_alone(stocked: Sandbox, acme: Api) -> None:
    await acme.create("/sales/tickets", _ticket("#1002-R1", [(1, -1, 116)], affect_inventory=False))
    assert (await stocked.stock("acme", "SKU-0001", "S01"))["qty_on_hand"] == 5


async def test_refund_item_never_moves_stock(stocked: Sandbox, acme: Api) -> None:
    before = (await stocked.control("GET", "state?account=acme"))["accounts"]["acme"]["inventory"]
    await acme.create("/sales/tickets", _ticket("#1003-R1", [(REFUND, -1, 12.5)]))
    after = (await stocked.control("GET", "state?account=acme"))["accounts"]["acme"]["inventory"]
    assert before == after
    assert not any(row["item"] == "REFUND" for row in after)


async def test_sale_ticket_takes_stock_and_cannot_oversell(stocked: Sandbox, acme: Api) -> None:
    ticket = await acme.create("/sales/tickets", _ticket("T-1", [(1, 2, 116)]))
    assert (await acme.get(f"/sales/tickets/{ticket}"))["type"] == "Ticket"
    assert (await stocked.stock("acme", "SKU-0001", "S01"))["qty_on_hand"] == 3
    reply = await acme.call("POST", "/sales/tickets", _ticket("T-2", [(1, 4, 116)]))
    assert reply.status == 422 and "qty" in reply.json["details"]


async def test_unbalanced_ticket_is_a_payment_error(acme: Api) -> None:
    body = _ticket("T-3", [(REFUND, -1, 10)])
    body["payments"][0]["amount"] = -9
    reply = await acme.call("POST", "/sales/tickets", body)
    assert reply.status == 422 and reply.json["error"] == "payment_error"


async def test_return_can_reference_its_invoice_as_parent(acme: Api) -> None:
    reply = await acme.call("POST", "/sales/tickets", _ticket("R-9", [(REFUND, -1, 1)], parent_transaction_id=999))
    assert reply.status == 422 and "parent_transaction_id" in reply.json["details"]


async def test_bad_line_reports_its_position(acme: Api) -> None:
    body = _ticket("T-4", [(REFUND, -1, 10)])
    body["item_lines"].append({"type": "ItemLine", "item_id": 99999, "qty": 1, "unit_price": 0})
    reply = await acme.call("POST", "/sales/tickets", body)
    assert reply.status == 422 and "item_lines[1].item_id" in reply.json["details"]
