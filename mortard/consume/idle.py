"""How a caught-up consumer polls: a long poll where the broker holds an empty fetch, short polls
and rests where it answers at once.

A broker that honours fetch.max.wait (Kafka, Tansu) holds an empty fetch until data arrives, so a
long poll costs nothing and wakes when an event lands (within `kafka.fetch_max_wait_ms` for a
partition just read, which aiokafka leaves out of the fetch already waiting). Some (noida-db) answer an empty fetch
at once, and aiokafka's fetcher asks again at once: caught up, it spun a core. Which kind the broker
is shows in the CPU an empty long poll burned. On the spinning kind the partitions rest between
short polls, so an idle daemon fetches about twice a second (events then wait up to IDLE_REST_S);
on the holding kind nothing rests, and a buyer's event is picked up in milliseconds, not up to half
a second later (bench/pipeline.py --light: the Kafka hop).

State only, no I/O: the poller asks for the next window, then reports what the poll found.
"""
from __future__ import annotations

from dataclasses import dataclass

LONG_POLL_MS = 200
# Spinning: partitions rest IDLE_REST_S between polls of IDLE_POLL_MS. A broker that ignores
# fetch.max.wait answers each fetch at once, so the poll's window is kept to about one fetch (5 ms
# let ~10 through: 1 % of a core idle); what a fetch brings back after the window is kept by aiokafka
# and returned at the next poll.
IDLE_REST_S = 0.5
IDLE_POLL_MS = 1
FIRST_REST_S = 0.02   # after the first empty poll that looked like spinning (it may only have been busy)
# An empty long poll that kept the process on CPU for more than this share of its time was spinning
# (or the daemon was busy with orders, when resting costs little: the same rest as before).
SPIN_SHARE = 0.25


@dataclass(slots=True)
class IdlePolls:
    spinning: bool = False   # in this idle stretch, the broker answers empty fetches at once

    def window_ms(self) -> int:
        return IDLE_POLL_MS if self.spinning else LONG_POLL_MS

    def found(self) -> None:
        """A poll brought records: caught up no more."""
        self.spinning = False

    def nothing(self, cpu_s: float, wall_s: float) -> float:
        """A poll found nothing, having kept the process on CPU `cpu_s` of its `wall_s`: seconds
        to rest before the next (0 = poll again at once)."""
        if self.spinning:
            return IDLE_REST_S
        if wall_s >= LONG_POLL_MS / 2000 and cpu_s <= SPIN_SHARE * wall_s:
            return 0.0   # the broker held the fetch: the next long poll wakes when data lands
        # Spinning, busy, or a poll that came back empty long before its window (never loop on that).
        self.spinning = True
        return FIRST_REST_S
