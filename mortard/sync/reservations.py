"""Stock mortard has routed but Heartland doesn't show as committed yet: the holds.

A pending Heartland order commits nothing, so between routing an order's lines and opening it,
Heartland's `qty_available` still counts those units. Two orders routed in that window would both
take the last unit. A hold keeps each order's routed units from the moment they are routed until
Heartland counts them (the order is opened), and a read of Heartland's stock keeps seeing a hold
released after the read began, since Heartland's answer may predate the commit.

Holds must be shared by every daemon of a deployment, so the numbers live in Postgres
(`mortard.store.reservations.StockHolds`); this module holds what is decided from them:

- per (account, item, location) two running totals: `held` (units held now) and `released` (units
  ever released). `held + released` only grows, which is what makes a stale copy safe to use.
- `open_read`, before asking Heartland, notes both for the items asked about (`StockRead`). It
  first makes the order's own holds what its lines take in Heartland uncommitted (`held_by_lines`):
  a run that took the order over from a killed daemon, or whose request failed after its hold,
  doesn't count units it holds but never routed against itself.
- `view(stock, read)`: the read less `taken`, the units held when the read began plus those held
  since (as far as this daemon has heard). Against the check below it can only be optimistic
  (another daemon held units since), never pessimistic: the plan never leaves a unit unrouted
  that the check would have granted.
- `reserve` is the atomic check: the units fit if, for each, `read - held_now - (released_now -
  released_before) >= need`; then they are held, else nothing is and the read's `taken` is brought
  up to date, so the caller plans again with what is really left. `need` is what the plan took
  from the stock it saw: units routed beyond it (to a backorder location) or to items and places
  the read didn't cover (items that track no inventory) are held without a check.
- A hold belongs to an order, not to a daemon: it is released once Heartland commits the units
  (the order was opened: `release`) and, whatever happened, when the order's lease ends (the store
  does that in the transaction that ends the lease). A killed daemon's holds stay with its orders
  until another daemon takes them over and finishes them.

`ReservationLedger` is the same decisions in memory, for one process (tests, tools).
"""
from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Protocol

from mortard.sync.model import Mirror

Unit = tuple[int, int]   # (item id, location id)
Owner = Hashable         # (shop, order id)
Counters = Mapping[Unit, tuple[int, int]]   # unit -> (held, released)


@dataclass(slots=True)
class StockRead:
    """One read of an account's stock: the releases counted before it began, and the units taken
    from what it will show (held when it began, or since). Per run; `refresh` keeps it current."""

    account: str
    released_before: dict[Unit, int]
    taken: dict[Unit, int] = field(default_factory=dict)


def open_read(account: str, counters: Counters) -> StockRead:
    """The read's mark, from the totals of the items it asks for as they are before it is sent."""
    return StockRead(account, {u: released for u, (_, released) in counters.items()},
                     {u: held for u, (held, _) in counters.items() if held})


def refresh(read: StockRead, counters: Counters) -> None:
    """Newer totals for some units: units held since the read began, or held and released since,
    are taken from it (a release after the read began may not be in Heartland's answer)."""
    for unit, (held, released) in counters.items():
        read.taken[unit] = held + released - read.released_before.get(unit, 0)


def view(stock: Mapping[Unit, int], read: StockRead) -> dict[Unit, int]:
    """What may still be routed: the read, less the units taken from it."""
    return {unit: qty - read.taken.get(unit, 0) for unit, qty in stock.items()}


def fits(stock: Mapping[Unit, int], read: StockRead, counters: Counters, need: Mapping[Unit, int]) -> bool:
    """The check `reserve` makes under the totals' locks (the SQL says the same)."""
    for unit, qty in need.items():
        if qty <= 0:
            continue
        held, released = counters.get(unit, (0, 0))
        if stock.get(unit, 0) - held - (released - read.released_before.get(unit, 0)) < qty:
            return False
    return True


def wanted(units: Mapping[Unit, int]) -> dict[Unit, int]:
    return {u: q for u, q in units.items() if q > 0}


def needs(units: Mapping[Unit, int], stock: Mapping[Unit, int], read: StockRead) -> dict[Unit, int]:
    """How many of the routed units the plan took from the stock it saw (per unit: at most what the
    view showed; none where the read showed no row)."""
    seen = view(stock, read)
    return {u: min(q, max(seen[u], 0)) if u in seen else 0 for u, q in units.items()}


def held_by_lines(mirror: Mirror, pending_status: str) -> dict[Unit, int]:
    """The units an order's lines take in Heartland without Heartland committing them: its
    distributed, uninvoiced units while the order is pending (an open order's are committed)."""
    out: dict[Unit, int] = {}
    if mirror.order_id is None or mirror.status != pending_status:
        return out
    for ln in mirror.lines:
        if ln.location_id is not None and ln.qty > ln.qty_invoiced:
            unit = (ln.item_id, ln.location_id)
            out[unit] = out.get(unit, 0) + ln.qty - ln.qty_invoiced
    return out


DRAFT_RETRY_MIN = timedelta(seconds=5)
DRAFT_RETRY_MAX = timedelta(minutes=15)


def draft_retry_delay(waited: timedelta) -> timedelta:
    """When to try again to complete an invoice Heartland refused for want of stock (sold elsewhere
    since the units were routed: a sale in the store, a manual adjustment). Heartland documents no
    way to delete an invoice, so the draft is reused: the order's next run completes that invoice
    (the planner never makes a second one at a location with an open invoice). A tenth of how long
    the order has waited so far, between 5 s and 15 min: a short gap is bridged soon, a long one
    costs one request a quarter hour."""
    return min(DRAFT_RETRY_MAX, max(DRAFT_RETRY_MIN, waited / 10))


class Ledger(Protocol):
    """What `OrderMachine` asks of the holds."""

    async def open_read(self, account: str, item_ids: Iterable[int], owner: Owner,
                        lines_hold: Mapping[Unit, int]) -> StockRead:
        """Call before asking Heartland for these items' stock; pass the result to `view`. The
        owner's holds become `lines_hold` first (`held_by_lines`)."""

    def view(self, stock: Mapping[Unit, int], read: StockRead) -> dict[Unit, int]: ...

    async def reserve(self, account: str, owner: Owner, units: Mapping[Unit, int],
                      read: tuple[Mapping[Unit, int], StockRead] | None) -> bool:
        """Hold `units` for `owner` if they are still free by `read` (without a read: hold them).
        False: nothing was held and `read` is up to date; plan again."""

    async def release(self, owner: Owner) -> None:
        """Heartland now counts this order's units itself (opened or cancelled)."""

    def ended(self, owner: Owner) -> None:
        """The order's run is over (its lease ended, which released its holds)."""


@dataclass
class ReservationLedger:
    """The holds in memory: one process only."""

    _held: dict[Owner, dict[tuple[str, int, int], int]] = field(default_factory=dict)
    _totals: dict[str, dict[Unit, tuple[int, int]]] = field(default_factory=dict)

    async def open_read(self, account: str, item_ids: Iterable[int], owner: Owner,
                        lines_hold: Mapping[Unit, int]) -> StockRead:
        totals = self._totals.setdefault(account, {})
        mine = {k: q for k, q in self._held.get(owner, {}).items() if k[0] == account}
        target = {(account, *u): q for u, q in wanted(lines_hold).items()}
        for key in set(mine) | set(target):
            delta = target.get(key, 0) - mine.get(key, 0)
            held, released = totals.get(key[1:], (0, 0))
            totals[key[1:]] = (held + delta, released + max(-delta, 0))
        if mine or target:
            self._held[owner] = target
        items = set(item_ids)
        return open_read(account, {u: c for u, c in totals.items() if u[0] in items})

    def view(self, stock: Mapping[Unit, int], read: StockRead) -> dict[Unit, int]:
        return view(stock, read)

    async def reserve(self, account: str, owner: Owner, units: Mapping[Unit, int],
                      read: tuple[Mapping[Unit, int], StockRead] | None) -> bool:
        units = wanted(units)
        if not units:
            return True
        totals = self._totals.setdefault(account, {})
        if read is not None and not fits(read[0], read[1], totals, needs(units, *read)):
            refresh(read[1], {u: totals.get(u, (0, 0)) for u in units})
            return False
        mine = self._held.setdefault(owner, {})
        for (item, location), qty in units.items():
            mine[(account, item, location)] = mine.get((account, item, location), 0) + qty
            held, released = totals.get((item, location), (0, 0))
            totals[(item, location)] = (held + qty, released)
        if read is not None:
            refresh(read[1], {u: totals[u] for u in units})
        return True

    async def release(self, owner: Owner) -> None:
        self._release(owner)

    def ended(self, owner: Owner) -> None:
        self._release(owner)

    def _release(self, owner: Owner) -> None:
        for (account, item, location), qty in self._held.pop(owner, {}).items():
            totals = self._totals[account]
            held, released = totals[(item, location)]
            totals[(item, location)] = (held - qty, released + qty)

    def held(self, owner: Owner) -> dict[Unit, int]:
        return {(item, location): qty for (_, item, location), qty in self._held.get(owner, {}).items()}
