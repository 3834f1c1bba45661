"""Routing order lines to ship-from locations from stock and the shop's rules."""
from __future__ import annotations

from collections import Counter

from hypothesis import given, settings
from hypothesis import strategies as st

from mortard.sync.model import Catalog, Location
from mortard.sync.routing import Allocation, LineDemand, allowed_locations, route
from mortard.sync.settings import ShopSettings

ONLINE, EAST, WEST, NORTH, BACK = 1, 10, 20, 30, 99
CATALOG = Catalog(locations={
    "ONLINE": Location(ONLINE, "ONLINE", "Web", 1),
    "EAST": Location(EAST, "EAST", "East store", 11),
    "WEST": Location(WEST, "WEST", "West store", 21),
    "NORTH": Location(NORTH, "NORTH", "North warehouse", 31),
    "BACK": Location(BACK, "BACK", "Backorders", 91),
})
MUG, TEE, GIFT = 501, 502, 503


def run(demands: list[LineDemand], stock: dict[tuple[int, int], int], s: ShopSettings | None = None,
        tags: tuple[str, ...] = (), order_location_id: int | None = None) -> set[Allocation]:
    s = s or ShopSettings(backorder_location="BACK")
    candidates = allowed_locations(s, CATALOG, tags)
    return set(route(demands, stock, candidates, s, CATALOG, order_location_id))


# -- candidates -----------------------------------------------------------------------------------

def test_without_a_priority_every_location_but_the_source_and_backorder_is_a_candidate_by_public_id():
    got = allowed_locations(ShopSettings(backorder_location="BACK"), CATALOG, ())
    assert [loc.public_id for loc in got] == ["EAST", "NORTH", "WEST"]


def test_the_location_priority_sets_the_order_and_skips_unknown_locations():
    s = ShopSettings(location_priority=("WEST", "GONE", "EAST"))
    assert [loc.public_id for loc in allowed_locations(s, CATALOG, ())] == ["WEST", "EAST"]


def test_an_order_tag_restricts_the_candidates():
    s = ShopSettings(location_priority=("WEST", "EAST", "NORTH"), tag_locations={"local": ("EAST", "NORTH")})
    assert [loc.public_id for loc in allowed_locations(s, CATALOG, ("local",))] == ["EAST", "NORTH"]
    assert [loc.public_id for loc in allowed_locations(s, CATALOG, ("other",))] == ["WEST", "EAST", "NORTH"]


# -- routing --------------------------------------------------------------------------------------

def test_lines_go_to_the_first_location_in_priority_order_that_can_fill_the_whole_order():
    s = ShopSettings(location_priority=("WEST", "EAST"))
    stock = {(MUG, WEST): 5, (TEE, WEST): 5, (MUG, EAST): 5, (TEE, EAST): 5}
    got = run([LineDemand(1, MUG, 2), LineDemand(2, TEE, 1)], stock, s)
    assert got == {Allocation(1, WEST, 2), Allocation(2, WEST, 1)}


def test_one_location_that_fills_the_order_beats_a_split_across_the_preferred_ones():
    s = ShopSettings(location_priority=("WEST", "EAST"))
    stock = {(MUG, WEST): 5, (TEE, EAST): 5, (MUG, EAST): 5}
    got = run([LineDemand(1, MUG, 2), LineDemand(2, TEE, 1)], stock, s)
    assert got == {Allocation(1, EAST, 2), Allocation(2, EAST, 1)}


def test_without_prefer_single_location_each_line_takes_its_first_location_with_stock():
    s = ShopSettings(location_priority=("WEST", "EAST"), prefer_single_location=False)
    stock = {(MUG, WEST): 5, (TEE, EAST): 5, (MUG, EAST): 5}
    got = run([LineDemand(1, MUG, 2), LineDemand(2, TEE, 1)], stock, s)
    assert got == {Allocation(1, WEST, 2), Allocation(2, EAST, 1)}


def test_a_line_splits_across_locations_when_splitting_is_allowed():
    s = ShopSettings(location_priority=("WEST", "EAST", "NORTH"))
    got = run([LineDemand(1, MUG, 5)], {(MUG, WEST): 2, (MUG, EAST): 2, (MUG, NORTH): 0}, s)
    assert got == {Allocation(1, WEST, 2), Allocation(1, EAST, 2), Allocation(1, None, 1)}


def test_a_line_is_not_split_when_splitting_is_off_and_goes_whole_to_a_location_that_has_it_all():
    s = ShopSettings(location_priority=("WEST", "EAST", "NORTH"), allow_split=False)
    got = run([LineDemand(1, MUG, 5)], {(MUG, WEST): 4, (MUG, EAST): 2, (MUG, NORTH): 7}, s)
    assert got == {Allocation(1, NORTH, 5)}
    got = run([LineDemand(1, MUG, 5)], {(MUG, WEST): 4, (MUG, EAST): 2}, s)
    assert got == {Allocation(1, None, 5)}


def test_two_lines_of_the_same_item_share_its_stock():
    s = ShopSettings(location_priority=("WEST", "EAST"))
    got = run([LineDemand(1, MUG, 3), LineDemand(2, MUG, 3)], {(MUG, WEST): 4, (MUG, EAST): 1}, s)
    assert got == {Allocation(1, WEST, 3), Allocation(2, WEST, 1), Allocation(2, EAST, 1), Allocation(2, None, 1)}


def test_a_tagged_order_only_ships_from_its_tag_locations():
    s = ShopSettings(location_priority=("WEST", "EAST"), tag_locations={"pickup-east": ("EAST",)})
    got = run([LineDemand(1, MUG, 2)], {(MUG, WEST): 9, (MUG, EAST): 1}, s, tags=("pickup-east",))
    assert got == {Allocation(1, EAST, 1), Allocation(1, None, 1)}


def test_shopify_location_routing_starts_at_the_mapped_location_of_the_line_or_the_order():
    s = ShopSettings(routing="shopify_location", location_priority=("WEST", "EAST", "NORTH"),
                     shopify_location_map={"7001": "NORTH", "7002": "EAST"}, prefer_single_location=False)
    stock = {(MUG, WEST): 5, (MUG, EAST): 5, (MUG, NORTH): 5, (TEE, WEST): 5, (TEE, EAST): 5}
    got = run([LineDemand(1, MUG, 1, shopify_location_id=7001), LineDemand(2, TEE, 1)], stock, s,
              order_location_id=7002)
    assert got == {Allocation(1, NORTH, 1), Allocation(2, EAST, 1)}


def test_shopify_location_routing_falls_back_to_priority_when_the_mapped_location_is_short_or_unmapped():
    s = ShopSettings(routing="shopify_location", location_priority=("WEST", "EAST", "NORTH"),
                     shopify_location_map={"7001": "NORTH"}, prefer_single_location=False)
    got = run([LineDemand(1, MUG, 3, shopify_location_id=7001)], {(MUG, WEST): 5, (MUG, NORTH): 1}, s)
    assert got == {Allocation(1, NORTH, 1), Allocation(1, WEST, 2)}
    single = ShopSettings(routing="shopify_location", location_priority=("WEST", "EAST", "NORTH"),
                          shopify_location_map={"7001": "NORTH"})
    got = run([LineDemand(1, MUG, 3, shopify_location_id=7001)], {(MUG, WEST): 5, (MUG, NORTH): 1}, single)
    assert got == {Allocation(1, WEST, 3)}  # one location that fills it beats a split starting at NORTH
    got = run([LineDemand(1, MUG, 3, shopify_location_id=7001)], {(MUG, WEST): 5, (MUG, NORTH): 3}, single)
    assert got == {Allocation(1, NORTH, 3)}
    got = run([LineDemand(1, MUG, 1, shopify_location_id=4242)], {(MUG, EAST): 5, (MUG, NORTH): 5}, s)
    assert got == {Allocation(1, EAST, 1)}


def test_priority_routing_ignores_shopify_locations():
    s = ShopSettings(location_priority=("WEST", "NORTH"), shopify_location_map={"7001": "NORTH"})
    got = run([LineDemand(1, MUG, 1, shopify_location_id=7001)], {(MUG, WEST): 5, (MUG, NORTH): 5}, s)
    assert got == {Allocation(1, WEST, 1)}


def test_units_nobody_can_fill_go_to_the_backorder_location_when_there_is_one():
    s = ShopSettings(location_priority=("WEST",), backorder_location="BACK")
    got = run([LineDemand(1, MUG, 3)], {(MUG, WEST): 1}, s)
    assert got == {Allocation(1, WEST, 1), Allocation(1, BACK, 2)}


def test_units_nobody_can_fill_stay_undistributed_without_a_backorder_location():
    s = ShopSettings(location_priority=("WEST",))
    assert run([LineDemand(1, MUG, 3)], {}, s) == {Allocation(1, None, 3)}


def test_negative_stock_counts_as_none():
    s = ShopSettings(location_priority=("WEST", "EAST"))
    assert run([LineDemand(1, MUG, 1)], {(MUG, WEST): -4, (MUG, EAST): 1}, s) == {Allocation(1, EAST, 1)}


def test_a_non_tracked_item_ships_from_the_first_candidate_without_stock():
    s = ShopSettings(location_priority=("WEST", "EAST"), prefer_single_location=False)
    got = run([LineDemand(1, GIFT, 4, tracked=False), LineDemand(2, MUG, 1)], {(MUG, EAST): 1}, s)
    assert got == {Allocation(1, WEST, 4), Allocation(2, EAST, 1)}


def test_a_non_tracked_item_does_not_stop_one_location_from_filling_the_order():
    s = ShopSettings(location_priority=("WEST", "EAST"))
    got = run([LineDemand(1, GIFT, 4, tracked=False), LineDemand(2, MUG, 1)], {(MUG, EAST): 1}, s)
    assert got == {Allocation(1, EAST, 4), Allocation(2, EAST, 1)}


def test_with_no_candidate_locations_everything_is_undistributed():
    s = ShopSettings(location_priority=("WEST",), tag_locations={"x": ()})
    got = run([LineDemand(1, MUG, 2), LineDemand(2, GIFT, 1, tracked=False)], {(MUG, WEST): 9}, s, tags=("x",))
    assert got == {Allocation(1, None, 2), Allocation(2, None, 1)}


# -- properties -----------------------------------------------------------------------------------

LOCS = [EAST, WEST, NORTH]
ITEMS = [MUG, TEE, GIFT]


@st.composite
def routing_cases(draw: st.DrawFn):
    n = draw(st.integers(min_value=1, max_value=5))
    demands = [LineDemand(key, draw(st.sampled_from(ITEMS)), draw(st.integers(min_value=1, max_value=8)),
                          draw(st.booleans()) or draw(st.booleans()),
                          draw(st.sampled_from([None, 7001, 7002, 7003])))
               for key in range(1, n + 1)]
    stock = draw(st.dictionaries(st.tuples(st.sampled_from(ITEMS), st.sampled_from(LOCS + [BACK, ONLINE])),
                                 st.integers(min_value=-2, max_value=10), max_size=12))
    s = ShopSettings(
        routing=draw(st.sampled_from(["priority", "shopify_location"])),
        location_priority=tuple(draw(st.permutations(["EAST", "WEST", "NORTH"]))[:draw(st.integers(0, 3))]),
        shopify_location_map={"7001": "EAST", "7002": "NORTH", "7003": "ONLINE"},
        prefer_single_location=draw(st.booleans()), allow_split=draw(st.booleans()),
        backorder_location=draw(st.sampled_from([None, "BACK"])),
        tag_locations={"t": tuple(draw(st.sets(st.sampled_from(["EAST", "WEST", "NORTH"]))))},
    )
    tags = draw(st.sampled_from([(), ("t",)]))
    return demands, stock, s, tags, draw(st.sampled_from([None, 7001, 7002]))


@settings(max_examples=400)
@given(routing_cases())
def test_routing_never_takes_more_than_is_available_and_places_every_unit_exactly_once(case):
    demands, stock, s, tags, order_loc = case
    candidates = allowed_locations(s, CATALOG, tags)
    allocs = route(demands, stock, candidates, s, CATALOG, order_loc)

    placed = Counter()
    for a in allocs:
        assert a.qty > 0
        placed[a.key] += a.qty
    assert placed == Counter({d.key: d.qty for d in demands})
    assert len({(a.key, a.location_id) for a in allocs}) == len(allocs)

    candidate_ids = {loc.id for loc in candidates}
    by_key = {d.key: d for d in demands}
    taken: Counter = Counter()
    for a in allocs:
        if a.location_id is None:
            continue
        if a.location_id not in candidate_ids:  # only the backorder location is outside the candidates
            assert a.location_id == BACK and s.backorder_location == "BACK" and by_key[a.key].tracked
        elif by_key[a.key].tracked and not (a.location_id == BACK and s.backorder_location == "BACK"):
            taken[(by_key[a.key].item_id, a.location_id)] += a.qty
    for (item, loc), qty in taken.items():
        assert qty <= max(0, stock.get((item, loc), 0)), (item, loc)
    if not s.allow_split:
        for d in demands:
            if d.tracked:
                stocked = [a for a in allocs if a.key == d.key and a.location_id not in (None, BACK)]
                assert len(stocked) <= 1 and (not stocked or stocked[0].qty == d.qty)
