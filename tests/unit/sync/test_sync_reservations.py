"""The reservation ledger: units routed to pending orders, which Heartland doesn't count yet."""
from __future__ import annotations

from mortard.sync.reservations import ReservationLedger

MUG, TEE = 501, 502
EAST = 10
MUG_EAST = (MUG, EAST)
TEE_EAST = (TEE, EAST)
A, B, C = ("shop", 1), ("shop", 2), ("shop", 3)


def read(ledger: ReservationLedger, heartland: dict[tuple[int, int], int]) -> dict[tuple[int, int], int]:
    """One inventory read as the daemon does it: mark, fetch (here: `heartland`), view."""
    mark = ledger.open_read({item for item, _ in heartland})
    return ledger.view(heartland, mark)


def test_two_orders_reading_the_same_stock_never_both_get_the_last_unit():
    ledger = ReservationLedger()
    heartland = {MUG_EAST: 1}
    a, b = ledger.open_read([MUG]), ledger.open_read([MUG])    # both reads start before either routes
    assert ledger.view(heartland, a)[MUG_EAST] == 1
    ledger.reserve(A, {MUG_EAST: 1})                            # A routes the unit before anything else runs
    assert ledger.view(heartland, b)[MUG_EAST] == 0
    assert read(ledger, heartland)[MUG_EAST] == 0


def test_an_order_counts_its_own_routed_units_as_taken():
    ledger = ReservationLedger()
    ledger.reserve(A, {MUG_EAST: 2, TEE_EAST: 1})
    assert read(ledger, {MUG_EAST: 2, TEE_EAST: 1}) == {MUG_EAST: 0, TEE_EAST: 0}
    assert read(ledger, {MUG_EAST: 5, TEE_EAST: 1}) == {MUG_EAST: 3, TEE_EAST: 0}


def test_reservations_of_one_order_add_up_and_zero_quantities_are_ignored():
    ledger = ReservationLedger()
    ledger.reserve(A, {MUG_EAST: 1})
    ledger.reserve(A, {MUG_EAST: 2, TEE_EAST: 0})
    assert ledger.held(A) == {MUG_EAST: 3}
    assert read(ledger, {MUG_EAST: 5, TEE_EAST: 5}) == {MUG_EAST: 2, TEE_EAST: 5}


def test_a_released_reservation_still_counts_for_a_read_that_started_before_the_release():
    ledger = ReservationLedger()
    ledger.reserve(A, {MUG_EAST: 1})
    b = ledger.open_read([MUG])          # B asks Heartland; the answer predates A opening its order
    ledger.release(A)                    # A opened: Heartland commits the unit itself from now on
    stale = {MUG_EAST: 1}                # ...but B's answer still shows it
    assert ledger.view(stale, b)[MUG_EAST] == 0


def test_a_released_reservation_does_not_count_for_a_read_that_started_after_the_release():
    ledger = ReservationLedger()
    ledger.reserve(A, {MUG_EAST: 1})
    ledger.release(A)
    fresh = {MUG_EAST: 4}                # Heartland already nets A's committed unit out
    assert read(ledger, fresh)[MUG_EAST] == 4
    assert ledger.held(A) == {}


def test_an_earlier_read_keeps_the_release_while_a_later_read_ignores_it():
    ledger = ReservationLedger()
    ledger.reserve(A, {MUG_EAST: 2})
    b = ledger.open_read([MUG])
    ledger.release(A)
    c = ledger.open_read([MUG])
    assert ledger.view({MUG_EAST: 2}, b)[MUG_EAST] == 0
    assert ledger.view({MUG_EAST: 2}, c)[MUG_EAST] == 2


def test_releasing_an_order_without_reservations_changes_nothing():
    ledger = ReservationLedger()
    b = ledger.open_read([MUG])
    ledger.release(A)
    assert ledger.view({MUG_EAST: 1}, b) == {MUG_EAST: 1}


def test_reservations_only_reduce_items_heartland_reported():
    ledger = ReservationLedger()
    ledger.reserve(A, {MUG_EAST: 1})
    assert read(ledger, {TEE_EAST: 3}) == {TEE_EAST: 3}


def test_a_read_held_across_steps_stays_exact_for_its_owner():
    # A reads stock, then spends steps creating its customer and order while B routes and opens.
    ledger = ReservationLedger()
    ledger.reserve(C, {MUG_EAST: 1})                 # C routed before A's read: Heartland's 4 still count it
    heartland_then = {MUG_EAST: 4, TEE_EAST: 1}
    a = ledger.open_read([MUG, TEE])
    assert ledger.view(heartland_then, a) == {MUG_EAST: 3, TEE_EAST: 1}
    ledger.reserve(B, {MUG_EAST: 1})                 # B routed one unit after A's read
    assert ledger.view(heartland_then, a)[MUG_EAST] == 2
    ledger.release(B)                                # B opened: Heartland commits it, A's read didn't see that
    assert ledger.view(heartland_then, a)[MUG_EAST] == 2
    ledger.reserve(A, {MUG_EAST: 2})                 # A routes the rest itself
    assert ledger.view(heartland_then, a)[MUG_EAST] == 0
    ledger.release(A)                                # A opened: its units are counted once, not twice
    assert ledger.view(heartland_then, a)[MUG_EAST] == 0
    ledger.release(C)
    assert ledger.view(heartland_then, a)[MUG_EAST] == 0
    # A fresh read after all opened sees Heartland's own numbers, with nothing held on top.
    assert read(ledger, {MUG_EAST: 0, TEE_EAST: 1}) == {MUG_EAST: 0, TEE_EAST: 1}


def test_a_read_remembers_only_the_items_it_asked_for():
    ledger = ReservationLedger()
    for n in range(1000):                            # a big catalogue's worth of released units
        ledger.reserve(("shop", n), {(1000 + n, EAST): 1})
        ledger.release(("shop", n))
    mark = ledger.open_read([MUG])
    assert mark.released_before == {MUG: {}}
