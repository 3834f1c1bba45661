"""The reservation ledger: units routed to pending orders, which Heartland doesn't count yet."""
from __future__ import annotations

from mortard.sync.reservations import ReservationLedger

MUG_EAST = (501, 10)
TEE_EAST = (502, 10)
A, B, C = ("shop", 1), ("shop", 2), ("shop", 3)


def read(ledger: ReservationLedger, heartland: dict[tuple[int, int], int], owner) -> dict[tuple[int, int], int]:
    """One whole inventory read as the daemon does it: begin, fetch, net of reservations, end."""
    seq = ledger.begin_read()
    try:
        return ledger.available(heartland, seq, owner)
    finally:
        ledger.end_read(seq)


def test_two_orders_reading_the_same_stock_never_both_get_the_last_unit():
    ledger = ReservationLedger()
    heartland = {MUG_EAST: 1}
    seq_a, seq_b = ledger.begin_read(), ledger.begin_read()     # both reads start before either routes
    first = ledger.available(heartland, seq_a, A)
    assert first[MUG_EAST] == 1
    ledger.reserve(A, {MUG_EAST: 1})                            # A routes the unit before anything else runs
    second = ledger.available(heartland, seq_b, B)
    assert second[MUG_EAST] == 0
    ledger.end_read(seq_a)
    ledger.end_read(seq_b)
    assert read(ledger, heartland, C)[MUG_EAST] == 0


def test_an_order_sees_its_own_reservation_as_available():
    ledger = ReservationLedger()
    ledger.reserve(A, {MUG_EAST: 2, TEE_EAST: 1})
    assert read(ledger, {MUG_EAST: 2, TEE_EAST: 1}, A) == {MUG_EAST: 2, TEE_EAST: 1}
    assert read(ledger, {MUG_EAST: 2, TEE_EAST: 1}, B) == {MUG_EAST: 0, TEE_EAST: 0}


def test_reservations_of_one_order_add_up_and_zero_quantities_are_ignored():
    ledger = ReservationLedger()
    ledger.reserve(A, {MUG_EAST: 1})
    ledger.reserve(A, {MUG_EAST: 2, TEE_EAST: 0})
    assert ledger.held(A) == {MUG_EAST: 3}
    assert read(ledger, {MUG_EAST: 5, TEE_EAST: 5}, B) == {MUG_EAST: 2, TEE_EAST: 5}


def test_a_released_reservation_still_counts_for_a_read_that_started_before_the_release():
    ledger = ReservationLedger()
    ledger.reserve(A, {MUG_EAST: 1})
    seq_b = ledger.begin_read()          # B asks Heartland; the answer predates A opening its order
    ledger.release(A)                    # A opened: Heartland commits the unit itself from now on
    stale = {MUG_EAST: 1}                # ...but B's answer still shows it
    assert ledger.available(stale, seq_b, B)[MUG_EAST] == 0
    ledger.end_read(seq_b)


def test_a_released_reservation_does_not_count_for_a_read_that_started_after_the_release():
    ledger = ReservationLedger()
    ledger.reserve(A, {MUG_EAST: 1})
    ledger.release(A)
    fresh = {MUG_EAST: 4}                # Heartland already nets A's committed unit out
    assert read(ledger, fresh, B)[MUG_EAST] == 4
    assert ledger.held(A) == {}


def test_a_read_in_flight_keeps_the_release_for_itself_while_a_later_read_ignores_it():
    ledger = ReservationLedger()
    ledger.reserve(A, {MUG_EAST: 2})
    seq_b = ledger.begin_read()
    ledger.release(A)
    seq_c = ledger.begin_read()
    assert ledger.available({MUG_EAST: 2}, seq_b, B)[MUG_EAST] == 0
    assert ledger.available({MUG_EAST: 2}, seq_c, C)[MUG_EAST] == 2
    ledger.end_read(seq_c)
    assert ledger.available({MUG_EAST: 2}, seq_b, B)[MUG_EAST] == 0   # C finishing doesn't drop B's view
    ledger.end_read(seq_b)
    assert read(ledger, {MUG_EAST: 2}, B)[MUG_EAST] == 2
    assert ledger._released == []        # nothing in flight needs the old release any more


def test_two_reads_at_the_same_point_both_keep_the_release_until_both_end():
    ledger = ReservationLedger()
    ledger.reserve(A, {MUG_EAST: 1})
    s1, s2 = ledger.begin_read(), ledger.begin_read()
    ledger.release(A)
    ledger.end_read(s1)
    assert ledger.available({MUG_EAST: 1}, s2, B)[MUG_EAST] == 0
    ledger.end_read(s2)


def test_releasing_an_order_without_reservations_changes_nothing():
    ledger = ReservationLedger()
    seq = ledger.begin_read()
    ledger.release(A)
    assert ledger.available({MUG_EAST: 1}, seq, B) == {MUG_EAST: 1}
    ledger.end_read(seq)


def test_reservations_only_reduce_items_heartland_reported():
    ledger = ReservationLedger()
    ledger.reserve(A, {MUG_EAST: 1})
    assert read(ledger, {TEE_EAST: 3}, B) == {TEE_EAST: 3}


def test_a_read_held_open_across_steps_stays_exact_for_its_owner():
    # A reads stock, then spends steps creating its customer and order while B routes and opens.
    ledger = ReservationLedger()
    ledger.reserve(C, {MUG_EAST: 1})                 # C routed before A's read: Heartland's 4 still count it
    heartland_then = {MUG_EAST: 4, TEE_EAST: 1}
    a = ledger.open_read()
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
    ledger.close_read(a)
    # A fresh read after both opened sees Heartland's own numbers, with nothing held on top.
    assert read(ledger, {MUG_EAST: 0}, A)[MUG_EAST] == 0
