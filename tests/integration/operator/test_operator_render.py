"""The operator's text output: aligned tables, JSON values, and mutations as one-line diffs (pure)."""
from __future__ import annotations

import json
from datetime import datetime, timezone
from decimal import Decimal

from mortard.operator.diff import Names, action_text
from mortard.operator.render import table, to_json
from mortard.sync.actions import AddLine, AddPayment, CreateTicket, DeleteLine, SetStatus, TicketLine, UpdateLine


def test_table_aligns_columns_right_aligns_numbers_and_wraps_long_cells_whole():
    out = table(("NAME", "N", "NOTE"), [("a", 5, None), ("longer", 120, "stock ran out at S02 today")],
                max_widths={"NOTE": 10}, width=100)
    assert out.splitlines() == [
        "NAME    N    NOTE",
        "------  ---  ----------",
        "a         5  -",
        "longer  120  stock ran",
        "             out at S02",
        "             today",
    ]


def test_a_table_wider_than_the_terminal_narrows_its_wrapping_columns_to_fit():
    reason = "unknown_item: no Heartland item for SKU-0009 (add it in Heartland, then retry the order)"
    out = table(("SHOP", "ORDER", "REASONS"), [("acme.myshopify.com", "#1001", reason)],
                max_widths={"REASONS": 70}, width=60)
    lines = out.splitlines()
    assert max(len(ln) for ln in lines) <= 60
    col = lines[0].index("REASONS")
    assert " ".join(ln[col:].strip() for ln in lines[2:]) == reason      # all of it, nothing cut
    assert all(ln[:col].strip() == "" for ln in lines[3:])                 # continuation under its column


def test_without_a_width_to_fit_every_row_is_one_whole_line():
    reason = "x" * 150
    out = table(("ORDER", "REASONS"), [("#1001", reason)], max_widths={"REASONS": 70}, width=None)
    assert out.splitlines()[2] == "#1001  " + reason


def test_json_renders_decimals_and_times_as_strings():
    doc = json.loads(to_json({"amount": Decimal("12.50"), "at": datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc),
                              "ids": (1, 2), "raw": b"\x00\xff"}))
    assert doc == {"amount": "12.50", "at": "2026-01-02T03:04:05+00:00", "ids": [1, 2], "raw": "AP8="}


def test_mutations_read_as_a_diff_with_names_staff_know():
    names = Names(locations={3: "S02"}, items={2: "SKU-0002"}, payment_types={1: "Shopify"})
    assert action_text(AddLine(17, 100101, 2, 2, Decimal("111.00"), Decimal("111.00"), 3).describe(), names) == \
        "+ add line SKU-0002 × 2 at S02 @ 111.00"
    assert action_text(SetStatus(17, "open").describe(), names) == "~ set status open"
    assert action_text(AddPayment(17, Decimal("-12"), 1).describe(), names) == "+ payment -12.00 (Shopify)"
    assert action_text(UpdateLine(17, 55, qty=1, location_id=3).describe(), names) == "~ line 55: qty 1, ship from S02"
    assert action_text(DeleteLine(17, 55).describe(), names) == "- delete line 55"
    ticket = CreateTicket(9, "#1001-R1", 5, 1, (TicketLine(2, -1, Decimal("111.00")),), Decimal("-8.88"),
                          Decimal("-119.88"), 1)
    assert action_text(ticket.describe(), names) == \
        "+ ticket #1001-R1: SKU-0002 × -1 @ 111.00; tax -8.88, payment -119.88 (Shopify)"
    assert action_text(AddLine(17, 1, 9, 1, Decimal("5"), Decimal("5"), None).describe()) == \
        "+ add line item 9 × 1 at no location @ 5.00"
