"""Recovery from documented reads alone (sync/recovery.py): Heartland read back as the API doc
promises it — lines without the Shopify line id or their invoiced quantity, invoices and their lines
apart, tickets by public id — plus mortard's journal, must give back exactly the mirror the run built,
however many answers a crash lost."""
from __future__ import annotations

import json
from dataclasses import replace
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from mortard.testing.shopify import order_payload, refund_payload
from mortard.sync.actions import CreateTicket
from mortard.sync.journal import OK, SENT
from mortard.sync.model import Mirror, plain
from mortard.sync.ports import JournalEntry, OrderReading, ReadInvoice, ReadInvoiceLine, ReadLine, ReadTicket
from mortard.sync.recovery import Recovered, Unaccounted, rebuild, ticket_fingerprint, ticket_names
from test_sync_changes import BIGGER, EAST, SPEC, WEST, Heartland, closed, parse

D = Decimal


def documented(m: Mirror) -> OrderReading:
    """What Heartland's documented reads show of the mirror's order."""
    item_of = {h.id: h.item_id for h in m.lines}
    assert m.order_id is not None and m.status is not None
    return OrderReading(
        order_id=m.order_id, status=m.status, customer_id=m.customer_id,
        billing_address_id=m.billing_address_id, shipping_address_id=m.shipping_address_id,
        shipping_charge=m.shipping_charge,
        lines=tuple(ReadLine(h.id, h.item_id, h.qty, h.unit_price, h.original_price, h.location_id) for h in m.lines),
        tax_total=m.tax_total, payments=m.payments,
        invoices=tuple(ReadInvoice(i.id, i.location_id, i.completed,
                                   tuple(ReadInvoiceLine(il.id, item_of[il.order_line_id], il.qty) for il in i.lines))
                       for i in m.invoices),
        tickets=tuple(ReadTicket(t.id, t.public_id, t.total) for t in m.tickets))


def journal(hl: Heartland, lost: set[int] | None = None) -> list[JournalEntry]:
    """The run's journal rows; those in `lost` (all when None) kept `sent`: their answers died with
    the daemon. Heartland gave the fake's mutations the ids 1001, 1002, ... in order."""
    out = []
    for n, a in enumerate(hl.log):
        request = json.loads(json.dumps(a.describe(), default=str))
        gone = lost is None or n in lost
        out.append(JournalEntry(n + 1, a.kind, request, SENT if gone else OK, None if gone else 1001 + n))
    return out


def comparable(m: Mirror) -> dict:
    return plain(replace(m, customer_searched=True))


def test_a_closed_order_with_an_exchange_is_rebuilt_from_documented_reads_and_the_journal_alone():
    hl = closed({(503, EAST): 4})
    r = refund_payload(BIGGER, 9001, {"TEE": (1, "return")})
    o = parse(order_payload(BIGGER, refunds=[r], quantities={"TEE": 1}))
    hl.deliver(o)
    assert hl.mirror.sale_tickets and hl.mirror.return_tickets
    got = rebuild(documented(hl.mirror), journal(hl), Mirror())
    assert isinstance(got, Recovered)
    assert comparable(got.mirror) == comparable(hl.mirror)
    # Planned again from the rebuilt mirror, the order needs nothing more: nothing is sent twice.
    again = Heartland(dict(hl.available), mirror=got.mirror)
    assert again.deliver(o).converged and not again.log


def test_a_partially_invoiced_split_order_keeps_which_units_are_invoiced():
    hl = Heartland({(501, EAST): 1, (501, WEST): 2, (502, EAST): 5}, )
    hl.deliver(parse(order_payload(SPEC)))
    assert len(hl.mirror.lines_for(SPEC.order_id * 100 + 1)) == 2   # MUG split over two stores
    got = rebuild(documented(hl.mirror), journal(hl), Mirror())
    assert isinstance(got, Recovered) and comparable(got.mirror) == comparable(hl.mirror)


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_any_set_of_lost_answers_rebuilds_the_same_mirror(data):
    hl = closed({(503, EAST): 4})
    o = parse(order_payload(BIGGER, refunds=[refund_payload(BIGGER, 9001, {"TEE": (1, "return")})],
                            quantities={"TEE": 1}))
    hl.deliver(o)
    lost = data.draw(st.sets(st.integers(0, len(hl.log) - 1)))
    # What Postgres still holds of the mirror: the state before the first lost answer.
    stored = Mirror() if lost else hl.mirror
    got = rebuild(documented(hl.mirror), journal(hl, lost), stored)
    assert isinstance(got, Recovered) and comparable(got.mirror) == comparable(hl.mirror)


def test_an_ambiguous_line_create_that_did_not_land_is_planned_again_and_one_that_did_is_not():
    hl = Heartland({(501, EAST): 9, (502, EAST): 9})
    o = parse(order_payload(SPEC))
    hl.deliver(o)
    rows = journal(hl)
    adds = [n for n, e in enumerate(rows) if e.action == "add_line"]
    # The second line never reached Heartland: the reading lacks it, so it is planned again (once).
    missing = hl.mirror.lines[1]
    reading = documented(replace(hl.mirror, status="pending", lines=(hl.mirror.lines[0],), invoices=()))
    got = rebuild(reading, rows[: adds[1] + 1], Mirror())
    assert isinstance(got, Recovered)
    assert [h.shopify_line_id for h in got.mirror.lines] == [hl.mirror.lines[0].shopify_line_id]
    assert missing.id not in {h.id for h in got.mirror.lines}


def test_a_line_the_journal_cannot_account_for_stops_the_order_for_a_person():
    hl = Heartland({(501, EAST): 9, (502, EAST): 9})
    hl.deliver(parse(order_payload(SPEC)))
    reading = documented(hl.mirror)
    stranger = ReadLine(99999, 777, 1, D("5.00"), D("5.00"), EAST)
    got = rebuild(replace(reading, lines=reading.lines + (stranger,)), journal(hl), Mirror())
    assert isinstance(got, Unaccounted) and "99999" in got.message


def test_tickets_to_look_up_are_the_journaled_ones_whose_answer_was_lost():
    hl = closed({(503, EAST): 4})
    o = parse(order_payload(BIGGER, refunds=[refund_payload(BIGGER, 9001, {"TEE": (1, "return")})],
                            quantities={"TEE": 1}))
    hl.deliver(o)
    names = {t.public_id for t in hl.mirror.tickets}
    assert set(ticket_names(journal(hl), Mirror())) == names
    assert ticket_names(journal(hl), hl.mirror) == ()


def test_a_return_journaled_but_not_in_heartland_is_pinned_to_what_was_sent():
    hl = closed({(503, EAST): 4})
    o = parse(order_payload(BIGGER, refunds=[refund_payload(BIGGER, 9001, {"TEE": (1, "return")})],
                            quantities={"TEE": 1}))
    hl.deliver(o)
    (ret,) = [a for a in hl.log if isinstance(a, CreateTicket) and a.refund_id == 9001]
    without = replace(hl.mirror, tickets=tuple(t for t in hl.mirror.tickets if t.refund_id != 9001))
    got = rebuild(documented(without), journal(hl), Mirror())
    assert isinstance(got, Recovered)
    assert got.pinned == {9001: ticket_fingerprint(json.loads(json.dumps(ret.describe(), default=str)))}
    assert ticket_fingerprint(ret.describe()) == got.pinned[9001]
    assert ticket_fingerprint(replace(ret, payment=ret.payment - 1).describe()) != got.pinned[9001]
