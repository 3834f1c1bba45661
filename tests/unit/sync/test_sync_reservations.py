"""The holds' decisions: units routed to pending orders, which Heartland doesn't count yet.

`ReservationLedger` (in memory) makes the same decisions as the Postgres holds
(`tests/integration/sync/test_sync_stock_holds.py` runs the same races against those)."""
from __future__ import annotations

from decimal import Decimal

from mortard.sync.model import HLine, Mirror
from mortard.sync.reservations import (
    ReservationLedger, StockRead, fits, held_by_lines, needs, open_read, refresh, view,
)

MUG, TEE = 501, 502
EAST = 10
MUG_EAST = (MUG, EAST)
TEE_EAST = (TEE, EAST)
A, B, C = ("shop", 1), ("shop", 2), ("shop", 3)
READER = ("shop", 99)      # an order that holds nothing
ACC = "acme"


async def read(ledger: ReservationLedger, heartland: dict[tuple[int, int], int]) -> dict[tuple[int, int], int]:
    """One inventory read as the daemon does it: mark, fetch (here: `heartland`), view."""
    mark = await ledger.open_read(ACC, {item for item, _ in heartland}, READER, {})
    return ledger.view(heartland, mark)


async def test_two_orders_reading_the_same_stock_never_both_get_the_last_unit():
    ledger = ReservationLedger()
    heartland = {MUG_EAST: 1}
    a, b = await ledger.open_read(ACC, [MUG], READER, {}), await ledger.open_read(ACC, [MUG], READER, {})   # both read before either routes
    assert ledger.view(heartland, a)[MUG_EAST] == 1 and ledger.view(heartland, b)[MUG_EAST] == 1
    assert await ledger.reserve(ACC, A, {MUG_EAST: 1}, (heartland, a))
    # B's view was optimistic; the hold is the check, and tells B what is left.
    assert not await ledger.reserve(ACC, B, {MUG_EAST: 1}, (heartland, b))
    assert ledger.view(heartland, b)[MUG_EAST] == 0 and ledger.held(B) == {}
    assert (await read(ledger, heartland))[MUG_EAST] == 0


async def test_an_order_counts_its_own_routed_units_as_taken():
    ledger = ReservationLedger()
    assert await ledger.reserve(ACC, A, {MUG_EAST: 2, TEE_EAST: 1}, None)
    assert await read(ledger, {MUG_EAST: 2, TEE_EAST: 1}) == {MUG_EAST: 0, TEE_EAST: 0}
    assert await read(ledger, {MUG_EAST: 5, TEE_EAST: 1}) == {MUG_EAST: 3, TEE_EAST: 0}


async def test_a_hold_is_all_or_nothing():
    ledger = ReservationLedger()
    heartland = {MUG_EAST: 3, TEE_EAST: 1}
    mark = await ledger.open_read(ACC, [MUG, TEE], READER, {})
    assert await ledger.reserve(ACC, B, {TEE_EAST: 1}, None)      # B takes the tee after A's read
    assert not await ledger.reserve(ACC, A, {MUG_EAST: 2, TEE_EAST: 1}, (heartland, mark))
    assert ledger.held(A) == {} and ledger.view(heartland, mark) == {MUG_EAST: 3, TEE_EAST: 0}


async def test_holds_of_one_order_add_up_and_zero_quantities_are_ignored():
    ledger = ReservationLedger()
    await ledger.reserve(ACC, A, {MUG_EAST: 1}, None)
    await ledger.reserve(ACC, A, {MUG_EAST: 2, TEE_EAST: 0}, None)
    assert ledger.held(A) == {MUG_EAST: 3}
    assert await read(ledger, {MUG_EAST: 5, TEE_EAST: 5}) == {MUG_EAST: 2, TEE_EAST: 5}


async def test_a_released_hold_still_counts_for_a_read_that_started_before_the_release():
    ledger = ReservationLedger()
    await ledger.reserve(ACC, A, {MUG_EAST: 1}, None)
    b = await ledger.open_read(ACC, [MUG], READER, {})   # B asks Heartland; the answer predates A opening its order
    await ledger.release(A)                  # A opened: Heartland commits the unit itself from now on
    stale = {MUG_EAST: 1}                    # ...but B's answer still shows it
    assert ledger.view(stale, b)[MUG_EAST] == 0
    # C's read began before A even held the unit, so C's view doesn't know; the check does.
    c = await ledger.open_read(ACC, [MUG], READER, {})
    await ledger.reserve(ACC, A, {MUG_EAST: 1}, None)
    await ledger.release(A)
    assert ledger.view(stale, c)[MUG_EAST] == 1
    assert not await ledger.reserve(ACC, C, {MUG_EAST: 1}, (stale, c))
    assert ledger.view(stale, c)[MUG_EAST] == 0


async def test_a_released_hold_does_not_count_for_a_read_that_started_after_the_release():
    ledger = ReservationLedger()
    await ledger.reserve(ACC, A, {MUG_EAST: 1}, None)
    await ledger.release(A)
    fresh = {MUG_EAST: 4}                    # Heartland already nets A's committed unit out
    assert (await read(ledger, fresh))[MUG_EAST] == 4
    mark = await ledger.open_read(ACC, [MUG], READER, {})
    assert await ledger.reserve(ACC, B, {MUG_EAST: 4}, (fresh, mark))
    assert ledger.held(A) == {}


async def test_an_earlier_read_keeps_the_release_while_a_later_read_ignores_it():
    ledger = ReservationLedger()
    await ledger.reserve(ACC, A, {MUG_EAST: 2}, None)
    b = await ledger.open_read(ACC, [MUG], READER, {})
    await ledger.release(A)
    c = await ledger.open_read(ACC, [MUG], READER, {})
    assert ledger.view({MUG_EAST: 2}, b)[MUG_EAST] == 0
    assert ledger.view({MUG_EAST: 2}, c)[MUG_EAST] == 2


async def test_the_end_of_a_run_ends_its_holds():
    ledger = ReservationLedger()
    await ledger.reserve(ACC, A, {MUG_EAST: 1}, None)
    ledger.ended(A)
    assert ledger.held(A) == {} and await read(ledger, {MUG_EAST: 1}) == {MUG_EAST: 1}
    ledger.ended(B)          # an order without holds: nothing changes
    assert await read(ledger, {MUG_EAST: 1}) == {MUG_EAST: 1}


async def test_holds_only_reduce_items_heartland_reported_and_only_in_their_account():
    ledger = ReservationLedger()
    await ledger.reserve(ACC, A, {MUG_EAST: 1}, None)
    assert await read(ledger, {TEE_EAST: 3}) == {TEE_EAST: 3}
    other = await ledger.open_read("globex", [MUG], READER, {})
    assert ledger.view({MUG_EAST: 1}, other) == {MUG_EAST: 1}


async def test_a_read_held_across_steps_stays_exact_for_its_owner():
    # A reads stock, then spends steps creating its customer and order while B routes and opens.
    ledger = ReservationLedger()
    await ledger.reserve(ACC, C, {MUG_EAST: 1}, None)   # C routed before A's read: Heartland's 4 still count it
    heartland_then = {MUG_EAST: 4, TEE_EAST: 1}
    a = await ledger.open_read(ACC, [MUG, TEE], READER, {})
    assert ledger.view(heartland_then, a) == {MUG_EAST: 3, TEE_EAST: 1}
    await ledger.reserve(ACC, B, {MUG_EAST: 1}, None)   # B routed one unit after A's read
    await ledger.release(B)                            # B opened: Heartland commits it, A's read didn't see that
    assert not await ledger.reserve(ACC, A, {MUG_EAST: 3}, (heartland_then, a))
    assert ledger.view(heartland_then, a)[MUG_EAST] == 2
    assert await ledger.reserve(ACC, A, {MUG_EAST: 2}, (heartland_then, a))   # A routes the rest itself
    assert ledger.view(heartland_then, a)[MUG_EAST] == 0
    await ledger.release(A)                            # A opened: its units are counted once, not twice
    assert ledger.view(heartland_then, a)[MUG_EAST] == 0
    ledger.ended(C)
    # A fresh read after all opened sees Heartland's own numbers, with nothing held on top.
    assert await read(ledger, {MUG_EAST: 0, TEE_EAST: 1}) == {MUG_EAST: 0, TEE_EAST: 1}


def test_a_stale_view_is_never_more_pessimistic_than_the_check():
    # The view is made from totals noted before the read; the check uses the totals of its time.
    # held + released only grows, so the check never finds more room than the view showed.
    mark = open_read(ACC, {MUG_EAST: (2, 5)})           # 2 held, 5 released when the read began
    heartland = {MUG_EAST: 6}
    assert view(heartland, mark) == {MUG_EAST: 4}
    later = {MUG_EAST: (1, 8)}                           # 1 of the 2 released, 2 more held and released
    assert not fits(heartland, mark, later, {MUG_EAST: 3}) and fits(heartland, mark, later, {MUG_EAST: 2})
    refresh(mark, later)
    assert view(heartland, mark) == {MUG_EAST: 2}
    assert isinstance(mark, StockRead) and mark.released_before == {MUG_EAST: 5}


def test_units_routed_past_the_stock_seen_or_where_the_read_showed_nothing_need_no_check():
    mark = open_read(ACC, {MUG_EAST: (1, 0)})
    stock = {MUG_EAST: 3, TEE_EAST: 0}
    BACKORDER = (MUG, 99)
    assert needs({MUG_EAST: 2, TEE_EAST: 1, BACKORDER: 4}, stock, mark) == {MUG_EAST: 2, TEE_EAST: 0, BACKORDER: 0}
    assert needs({MUG_EAST: 5}, stock, mark) == {MUG_EAST: 2}


def line(n: int, item: int, qty: int, location: int | None, invoiced: int = 0) -> HLine:
    return HLine(n, n, item, qty, Decimal("1.00"), Decimal("1.00"), location, invoiced)


def test_only_a_pending_orders_distributed_uninvoiced_units_are_held_by_its_lines():
    lines = (line(1, MUG, 2, EAST), line(2, MUG, 1, EAST), line(3, TEE, 3, EAST, invoiced=1), line(4, TEE, 1, None))
    assert held_by_lines(Mirror(order_id=7, status="pending", lines=lines), "pending") == {MUG_EAST: 3, TEE_EAST: 2}
    assert held_by_lines(Mirror(order_id=7, status="open", lines=lines), "pending") == {}
    assert held_by_lines(Mirror(), "pending") == {}


async def test_a_read_makes_the_readers_holds_what_its_lines_take():
    ledger = ReservationLedger()
    heartland = {MUG_EAST: 2, TEE_EAST: 1}
    other = await ledger.open_read(ACC, [TEE], B, {})      # B's read begins before any of this
    # A held units and then its send failed (or its daemon died before sending): nothing was routed.
    assert await ledger.reserve(ACC, A, {MUG_EAST: 2}, None)
    mark = await ledger.open_read(ACC, [MUG, TEE], A, {})
    assert ledger.held(A) == {} and ledger.view(heartland, mark) == heartland
    # Its lines do take a unit of TEE at EAST (the order is pending): that one is held.
    mark = await ledger.open_read(ACC, [MUG, TEE], A, {TEE_EAST: 1})
    assert ledger.held(A) == {TEE_EAST: 1} and ledger.view(heartland, mark) == {MUG_EAST: 2, TEE_EAST: 0}
    assert not await ledger.reserve(ACC, B, {TEE_EAST: 1}, (heartland, other))
