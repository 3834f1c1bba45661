"""The payload builders keep Shopify's own bookkeeping: an order's current total is what was charged
less what its refunds paid back, to the cent. (A builder that rounds the two sides apart made two
fault-free orders in bench/faults.py look a cent over-paid.)"""
from __future__ import annotations

import random
import sys
from decimal import Decimal
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "support"))
from fault_scenarios import build_phases, random_cases  # noqa: E402


@pytest.mark.parametrize("seed", range(40))
def test_current_total_is_charged_less_refunded(seed: int) -> None:
    cases = random_cases(random.Random(seed), 25, max_changes=3)
    phases, _ = build_phases(cases, first_order_id=200_000)
    last: dict[int, dict] = {}
    for phase in phases:
        for order_id, topic, payload in phase:
            if topic != "refunds/create":
                last[order_id] = payload
    for order_id, o in last.items():
        if o["cancelled_at"] or o["financial_status"] == "pending":
            continue
        refunded = sum((Decimal(t["amount"]) for r in o["refunds"] for t in r["transactions"]), Decimal("0"))
        assert Decimal(o["current_total_price"]) == Decimal(o["total_price"]) - refunded, order_id
        line_tax = sum((Decimal(t["price"]) for li in o["line_items"] for t in li["tax_lines"]), Decimal("0"))
        refunded_tax = sum((Decimal(rl["total_tax"]) for r in o["refunds"] for rl in r["refund_line_items"]),
                           Decimal("0"))
        assert Decimal(o["current_total_tax"]) == line_tax - refunded_tax, order_id
