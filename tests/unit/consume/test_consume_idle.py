"""The caught-up consumer's polling: long polls where the broker holds empty fetches, short polls
and rests where it answers at once (mortard/consume/idle.py)."""
from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from mortard.consume.idle import FIRST_REST_S, IDLE_POLL_MS, IDLE_REST_S, LONG_POLL_MS, IdlePolls


def test_a_broker_that_holds_empty_fetches_is_long_polled_without_rests():
    idle = IdlePolls()
    for _ in range(50):
        assert idle.window_ms() == LONG_POLL_MS
        assert idle.nothing(cpu_s=0.002, wall_s=0.2) == 0.0
    assert not idle.spinning


def test_a_broker_that_answers_at_once_gets_short_polls_and_rests_until_records_come():
    idle = IdlePolls()
    assert idle.nothing(cpu_s=0.19, wall_s=0.2) == FIRST_REST_S   # the long poll spun a core
    assert idle.spinning and idle.window_ms() == IDLE_POLL_MS
    assert [idle.nothing(cpu_s=0.001, wall_s=0.001) for _ in range(3)] == [IDLE_REST_S] * 3
    idle.found()
    assert (idle.spinning, idle.window_ms()) == (False, LONG_POLL_MS)   # asked again


def test_an_empty_poll_back_long_before_its_window_rests_rather_than_looping():
    idle = IdlePolls()
    assert idle.nothing(cpu_s=0.0, wall_s=0.0) > 0


@given(cpu=st.floats(0, 1), wall=st.floats(0, 1), earlier=st.lists(st.tuples(st.floats(0, 1), st.floats(0, 1)), max_size=5))
def test_it_never_polls_again_at_once_unless_the_last_long_poll_was_held_and_quiet(cpu, wall, earlier):
    idle = IdlePolls()
    for c, w in earlier:
        idle.nothing(c, w)
    was_spinning = idle.spinning
    rest = idle.nothing(cpu, wall)
    if rest == 0.0:
        assert not was_spinning and wall >= LONG_POLL_MS / 2000 and cpu <= 0.25 * wall
    else:
        assert idle.spinning
