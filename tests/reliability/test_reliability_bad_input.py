"""Thousands of malformed and hostile records straight onto the topic, mixed with good orders.

The daemon must keep running, account for every record exactly once (a dead letter or an inbox
event; a redelivered webhook id is a duplicate and neither), leave no hostile order stuck, sync the
good orders, and write nothing to Heartland for anything else.
"""
from __future__ import annotations

import asyncio
import copy
import json
import random
import uuid
from collections import Counter, defaultdict
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from kafka_helpers import create_topic
from mortard.testing.shopify import LineSpec, OrderSpec, order_payload, refund_payload
from mortard.ingest.contract import CONSUMED_TOPICS
from reliability_helpers import (
    Raw, as_raw, check_heartland, daemon_alive, dead_task_errors, produce_acked, sandbox_state, stop_quietly,
    valid_orders,
)
from stack import SHOP, SHOP2, Stack, stack_config

pytestmark = pytest.mark.timeout(180)

N_HOSTILE = 2000
N_VALID = 40
N_REDELIVERED = 10
HOSTILE_ID0 = 50_000_000          # hostile order ids: HOSTILE_ID0 + index (never a valid order's id)
VALID_ID0 = 41_000
KNOWN = {SHOP, SHOP2}


# -- what a hostile record looks like ------------------------------------------------------------
# The strategies draw a (category, params) pair; `render` turns it into a Kafka record for a given
# order id and webhook id, so big values (5,000-deep nesting, 300 kB strings) are built from a
# drawn size rather than drawn byte by byte.

def _headers(topic: str = "orders/create", shop: str = SHOP, wid: str = "") -> list[tuple[str, bytes]]:
    return [("shopify-topic", topic.encode()), ("shopify-shop-domain", shop.encode()),
            ("shopify-webhook-id", wid.encode()), ("shopify-event-id", wid.encode()),
            ("shopify-triggered-at", b"2026-11-27T14:00:00+00:00"), ("shopify-api-version", b"2026-10")]


def _base(oid: int) -> dict[str, Any]:
    p = order_payload(OrderSpec(oid, oid, [LineSpec("SKU-0002", 1, Decimal("12.00"))]))
    p["name"] = f"#H{oid}"
    return p


def _not_overflowing(s: str) -> bool:
    # Timestamps that overflow when shifted to UTC crash parse_record (see the poison test below).
    try:
        datetime.fromisoformat(s.replace("Z", "+00:00")).astimezone(timezone.utc)
    except OverflowError:
        return False
    except ValueError:
        return True
    return True


def _no_big_ints(v: Any) -> Any:
    return v


junk_json = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12)

wrong_type = st.one_of(junk_json, st.just({}), st.just([]), st.just("x"), st.just(True), st.just(1.5))

# Parse-level rejections (expected as dead letters).
dead_letter_kinds = st.one_of(
    st.tuples(st.just("missing_header"), st.fixed_dictionaries({
        "drop": st.sets(st.sampled_from(["shopify-topic", "shopify-shop-domain"]), min_size=1)})),
    st.tuples(st.just("empty_header"), st.fixed_dictionaries({
        "name": st.sampled_from(["shopify-topic", "shopify-shop-domain"])})),
    st.tuples(st.just("unknown_shop"), st.fixed_dictionaries({
        "shop": st.one_of(st.text(min_size=1, max_size=80), st.sampled_from(
            ["ACME-STORE.myshopify.com", "acme-store.myshopify.com ", "acme-store.myshopify.com\x00",
             "evil.myshopify.com", "*", "acme-store.myshopify.com/../globex"])).filter(lambda s: s not in KNOWN)})),
    st.tuples(st.just("unsupported_topic"), st.fixed_dictionaries({
        "topic": st.one_of(st.text(min_size=1, max_size=40), st.sampled_from(
            ["orders/delete", "products/create", "ORDERS/CREATE", "orders/create ", "orders/create\x00"]))
        .filter(lambda t: t not in CONSUMED_TOPICS)})),
    st.tuples(st.just("invalid_header"), st.fixed_dictionaries({
        "name": st.sampled_from(["shopify-topic", "shopify-shop-domain", "shopify-webhook-id"]),
        "raw": st.binary(max_size=16).map(lambda b: b"\xff" + b)})),
    st.tuples(st.just("null_value"), st.just({})),
    st.tuples(st.just("empty_value"), st.fixed_dictionaries({"value": st.sampled_from([b"", b" ", b"\n", b"\x00"])})),
    st.tuples(st.just("invalid_utf8"), st.fixed_dictionaries({
        "bad": st.sampled_from([b"\xff", b"\xc3\x28", b"\xed\xa0\x80", b"\xf8\x88\x80\x80\x80", b"\xc0\xaf", b"\x80"]),
        "tail": st.binary(max_size=40)})),
    st.tuples(st.just("not_json"), st.fixed_dictionaries({"text": st.text(max_size=60)})),
    st.tuples(st.just("deep_nesting"), st.fixed_dictionaries({
        "depth": st.integers(min_value=1200, max_value=6000), "open": st.sampled_from(["[", '{"a":'])})),
    st.tuples(st.just("not_object"), st.fixed_dictionaries({"value": junk_json.filter(lambda v: not isinstance(v, dict))})),
    st.tuples(st.just("bad_order_id"), st.fixed_dictionaries({
        "id": st.one_of(st.sampled_from(["missing", "123", 0, 2**63, 2**70, 1.5, True, None, [], {}, ""]),
                        st.integers(max_value=0)),
        "topic": st.sampled_from(["orders/create", "orders/updated", "refunds/create", "orders/edited"])})),
    st.tuples(st.just("nul_chars"), st.fixed_dictionaries({
        "field": st.sampled_from(["name", "email", "note", "tags", "sku", "title"]),
        "text": st.text(max_size=10).map(lambda s: s + "\x00")})),
    st.tuples(st.just("nan_literal"), st.fixed_dictionaries({
        # Tokens JSON doesn't have (Python's json reads them; Postgres refuses them). A number too
        # big for a float, like 1e400, is valid JSON and only matters where money is read.
        "field": st.sampled_from(["total_price", "note", "x"]),
        "literal": st.sampled_from(["NaN", "Infinity", "-Infinity"])})),
    st.tuples(st.just("bad_updated_at"), st.fixed_dictionaries({
        "value": st.one_of(st.sampled_from(["missing", None, 12345, "", "yesterday", "2026-13-45T99:00:00Z", "x" * 70]),
                           st.text(max_size=30).filter(_not_overflowing))})),
    st.tuples(st.just("refund_bad_id"), st.fixed_dictionaries({"id": st.sampled_from(["missing", "7", -1, 0, None, 2**64])})),
)

# Parsable but unsyncable (expected in the inbox, the order then dead / ignored / waiting).
inbox_kinds = st.one_of(
    st.tuples(st.just("wrong_types"), st.fixed_dictionaries({
        "path": st.sampled_from(["line_items", "line.quantity", "line.price", "line.id", "total_price",
                                 "refunds", "note_attributes", "name", "line", "line.discount_allocations"]),
        "value": wrong_type})),
    st.tuples(st.just("negative_qty"), st.fixed_dictionaries({
        "field": st.sampled_from(["quantity", "current_quantity"]),
        "qty": st.one_of(st.integers(max_value=-1), st.sampled_from([-1, -(2**31), 100_001, 10**12]))})),
    st.tuples(st.just("absurd_price"), st.fixed_dictionaries({
        "field": st.sampled_from(["price", "total_price"]),
        "price": st.one_of(
            st.sampled_from(["1e12", "99999999999999", "-1.00", "NaN", "Infinity", "-Infinity", "sNaN",
                             "1e999999", "abc", "0x10", "12,00", "$12.00"]),
            st.integers(min_value=10**12, max_value=10**40).map(str),
            st.integers(min_value=10**12, max_value=10**18))})),
    st.tuples(st.just("missing_fields"), st.fixed_dictionaries({
        "drop": st.sets(st.sampled_from(["line_items", "total_price", "line.price", "line.id", "line.quantity"]),
                        min_size=1)})),
    st.tuples(st.just("huge_values"), st.fixed_dictionaries({
        "field": st.sampled_from(["name", "sku", "price", "line_items"]),
        "size": st.integers(min_value=300, max_value=120_000)})),
    st.tuples(st.just("currency_mismatch"), st.fixed_dictionaries({
        "currency": st.one_of(st.sampled_from(["EUR", "JPY", "GBP", "usd", "XXX", "BTC"]),
                              st.text(min_size=1, max_size=5).filter(lambda c: c != "USD"))})),
    st.tuples(st.just("test_order"), st.just({})),
    st.tuples(st.just("empty_lines"), st.just({})),
    st.tuples(st.just("dup_line_ids"), st.just({})),
    st.tuples(st.just("excess_discount"), st.fixed_dictionaries({"discount": st.sampled_from(["12.01", "1000", "-1"])})),
    st.tuples(st.just("nested_junk"), st.fixed_dictionaries({
        "depth": st.integers(min_value=10, max_value=400), "qty": st.sampled_from([0, -1])})),
    st.tuples(st.just("orphan_refund"), st.just({})),
    st.tuples(st.just("orphan_edit"), st.just({})),
)

hostile = st.tuples(st.one_of(dead_letter_kinds, inbox_kinds),
                    st.sampled_from([SHOP, SHOP, SHOP, SHOP2]))


def _set_path(p: dict[str, Any], path: str, value: Any) -> None:
    if path.startswith("line."):
        p["line_items"][0][path[5:]] = value
    elif path == "line":
        p["line_items"][0] = value
    else:
        p[path] = value


def _drop_path(p: dict[str, Any], path: str) -> None:
    if path.startswith("line."):
        if isinstance(p.get("line_items"), list) and p["line_items"]:
            p["line_items"][0].pop(path[5:], None)
    else:
        p.pop(path, None)


def render(kind: str, params: dict[str, Any], shop: str, oid: int, wid: str) -> Raw:
    key = f"{shop}/{oid}".encode()
    head = _headers(shop=shop, wid=wid)
    p = _base(oid)
    body: bytes | None = None
    if kind == "missing_header":
        head = [h for h in head if h[0] not in params["drop"]]
    elif kind == "empty_header":
        head = [(n, b"" if n == params["name"] else v) for n, v in head]
    elif kind == "unknown_shop":
        head = _headers(shop=params["shop"], wid=wid)
    elif kind == "unsupported_topic":
        head = _headers(topic=params["topic"], shop=shop, wid=wid)
    elif kind == "invalid_header":
        head = [(n, params["raw"] if n == params["name"] else v) for n, v in head]
    elif kind == "null_value":
        return key, None, head
    elif kind == "empty_value":
        body = params["value"]
    elif kind == "invalid_utf8":
        body = b'{"id": ' + str(oid).encode() + b', "name": "' + params["bad"] + params["tail"] + b'"}'
    elif kind == "not_json":
        body = ('{"id": %d, "x": ' % oid + params["text"]).encode()   # never closed: never JSON
    elif kind == "deep_nesting":
        opener = params["open"]
        closer = "]" if opener == "[" else "}"
        d = params["depth"]
        body = ('{"id": %d, "updated_at": "2026-11-27T14:00:00+00:00", "x": ' % oid
                + opener * d + "1" + closer * d + "}").encode()
    elif kind == "not_object":
        body = json.dumps(params["value"]).encode()
    elif kind == "bad_order_id":
        topic = params["topic"]
        head = _headers(topic=topic, shop=shop, wid=wid)
        if topic == "refunds/create":
            p = {"id": oid, "order_id": params["id"]}
        elif topic == "orders/edited":
            p = {"order_edit": {"id": oid, "order_id": params["id"]}}
        else:
            p["id"] = params["id"]
        if params["id"] == "missing":
            (p.get("order_edit") or p).pop("order_id" if topic != "orders/create" and topic != "orders/updated"
                                           else "id", None)
    elif kind == "nul_chars":
        f = params["field"]
        if f in ("sku", "title"):
            p["line_items"][0][f] = params["text"]
        else:
            p[f] = params["text"]
    elif kind == "nan_literal":
        text = json.dumps(p)
        body = (text[:-1] + ', "%s": %s}' % (params["field"], params["literal"])).encode()
        # a duplicate key: the literal wins (json keeps the last one)
    elif kind == "bad_updated_at":
        if params["value"] == "missing":
            p.pop("updated_at")
        else:
            p["updated_at"] = params["value"]
    elif kind == "refund_bad_id":
        head = _headers(topic="refunds/create", shop=shop, wid=wid)
        p = {"order_id": oid, "refund_line_items": []}
        if params["id"] != "missing":
            p["id"] = params["id"]
    elif kind == "wrong_types":
        _set_path(p, params["path"], params["value"])
        if params["path"] in ("refunds", "note_attributes", "line.discount_allocations"):
            p["line_items"][0]["quantity"] = 0      # wrong type there alone may be tolerated; make sure
        if params["path"] == "name" and (isinstance(params["value"], str) or not params["value"]):
            p["name"] = 7                           # a str name is valid, a falsy one defaults: wrong type for sure
        if params["path"] == "refunds" and isinstance(params["value"], (int, float)) and params["value"]:
            p["refunds"] = "x"                      # a number there is the refunds_not_a_list poison (below)
    elif kind == "negative_qty":
        p["line_items"][0][params["field"]] = params["qty"]
        if params["field"] == "current_quantity" and params["qty"] == 100_001:
            p["line_items"][0]["current_quantity"] = -5
    elif kind == "absurd_price":
        _set_path(p, "line.price" if params["field"] == "price" else "total_price", params["price"])
    elif kind == "missing_fields":
        for d in params["drop"]:
            _drop_path(p, d)
        if params["drop"] == {"total_price"}:
            p.pop("current_total_price", None)
    elif kind == "huge_values":
        n, f = params["size"], params["field"]
        if f == "name":
            p["name"] = "N" * n
        elif f == "sku":
            p["line_items"][0]["sku"] = "S" * max(n, 256)
        elif f == "price":
            p["line_items"][0]["price"] = "9" * min(max(n // 100, 13), 4000)   # a string: no int parsing
        else:
            p["line_items"] = [p["line_items"][0]] * min(n // 100 + 2, 3000)   # all with one id
    elif kind == "currency_mismatch":
        p["currency"] = params["currency"]
        p["presentment_currency"] = params["currency"]
        p["current_shipping_price_set"]["shop_money"]["currency_code"] = params["currency"]
    elif kind == "test_order":
        p["test"] = True
    elif kind == "empty_lines":
        p["line_items"] = []
    elif kind == "dup_line_ids":
        p["line_items"] = [p["line_items"][0], copy.deepcopy(p["line_items"][0])]
    elif kind == "excess_discount":
        p["line_items"][0]["discount_allocations"] = [{"amount": params["discount"], "discount_application_index": 0}]
    elif kind == "nested_junk":
        d = params["depth"]
        p["metafields"] = json.loads("[" * d + "1" + "]" * d)
        p["line_items"][0]["quantity"] = params["qty"]
    elif kind == "orphan_refund":
        spec = OrderSpec(oid, oid, [LineSpec("SKU-0002", 1, Decimal("12.00"))])
        p = refund_payload(spec, oid * 10, {"SKU-0002": (1, "no_restock")})
        head = _headers(topic="refunds/create", shop=shop, wid=wid)
    elif kind == "orphan_edit":
        p = {"order_edit": {"id": oid * 10, "order_id": oid, "line_items": {"additions": [], "removals": []}}}
        head = _headers(topic="orders/edited", shop=shop, wid=wid)
    else:
        raise AssertionError(kind)
    if body is None:
        body = json.dumps(p).encode()
    return key, body, head


def generate(strategy: st.SearchStrategy[Any], n: int) -> list[Any]:
    """n examples of `strategy`, the way Hypothesis generates them for a test (deterministic)."""
    out: list[Any] = []

    @settings(max_examples=n, database=None, deadline=None, derandomize=True, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck))
    @given(strategy)
    def collect(example: Any) -> None:
        out.append(example)

    collect()
    return out


async def _wait_accounted(pool, coords: set[tuple[int, int]], dup_coords: set[tuple[int, int]], timeout: float,
                          daemon) -> tuple[set, set]:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    want = len(coords) - len(dup_coords)
    dead: set = set()
    inbox: set = set()
    while loop.time() < deadline:
        dead = {(r["kafka_partition"], r["kafka_offset"]) for r in await pool.fetch(
            "SELECT kafka_partition, kafka_offset FROM dead_letters")}
        inbox = {(r["kafka_partition"], r["kafka_offset"]) for r in await pool.fetch(
            "SELECT kafka_partition, kafka_offset FROM events")}
        if len(dead) + len(inbox) >= want or dead_task_errors(daemon):
            break
        await asyncio.sleep(0.25)
    return dead, inbox


async def _wait_orders(pool, timeout: float) -> list:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        rows = await pool.fetch("SELECT shop, order_id, sync_state, pending_reasons, due_seq, done_seq, lease_owner, "
                                "next_attempt_at FROM orders")
        busy = [r for r in rows if r["due_seq"] > r["done_seq"] or r["lease_owner"] is not None
                or r["sync_state"] in ("creating", "failed")]
        if not busy or loop.time() > deadline:
            return rows
        await asyncio.sleep(0.25)


async def test_thousands_of_hostile_records_are_each_accounted_for_once_and_never_reach_heartland(
        db_url, pool, kafka_bootstrap, sandbox_url, http):
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    drawn = generate(hostile, N_HOSTILE)
    gen_s = loop.time() - t0
    records: list[Raw] = []
    meta: list[dict[str, Any]] = []      # per record: category, order key, expectation
    for i, ((kind, params), shop) in enumerate(drawn):
        oid = HOSTILE_ID0 + i
        records.append(render(kind, params, shop, oid, f"h-{uuid.uuid4()}"))
        meta.append({"kind": kind, "order": (shop, oid), "valid": False})
    good = valid_orders(N_VALID, start=VALID_ID0)
    rng = random.Random(5)
    for h, raw in zip(good, as_raw(good)):
        records.append(raw)
        meta.append({"kind": "valid", "order": (SHOP, h.order_id), "valid": True, "wid": h.webhook_id})
    for h in rng.sample(good, N_REDELIVERED):           # Shopify redelivers: same webhook id, same body
        records.append((h.key, h.body, h.kafka_headers()))
        meta.append({"kind": "redelivery", "order": (SHOP, h.order_id), "valid": True, "dup": True})
    order = list(range(len(records)))
    rng.shuffle(order)
    # A redelivery must come after its original for "the second is the duplicate" to hold per
    # partition (same key, same partition, so offsets order them).
    first_seen: dict[Any, int] = {}
    for pos, idx in enumerate(order):
        if meta[idx]["kind"] in ("valid", "redelivery"):
            first_seen.setdefault(meta[idx]["order"], pos)
    records = [records[i] for i in order]
    meta = [meta[i] for i in order]
    seen: set = set()
    for m in meta:
        if m["kind"] in ("valid", "redelivery"):
            m["dup"] = m["order"] in seen
            seen.add(m["order"])

    topic = f"orders-{uuid.uuid4().hex[:10]}"
    await create_topic(kafka_bootstrap, topic, partitions=4)
    cfg = stack_config(db_url=db_url, bootstrap=kafka_bootstrap, topic=topic, sandbox_url=sandbox_url,
                       daemon={"lease_s": 10})
    stack = Stack(cfg, sandbox_url, http, pool)
    await stack.start_daemon()
    try:
        acked = await produce_acked(kafka_bootstrap, topic, records)
        assert all(a is not None for a in acked), "the broker refused some records"
        coords = {a for a in acked if a is not None}
        dup_coords = {a for a, m in zip(acked, meta) if m.get("dup")}
        dead, inbox = await _wait_accounted(pool, coords, dup_coords, timeout=60, daemon=stack.daemon)
        rows = await _wait_orders(pool, timeout=60)
        alive = daemon_alive(stack.daemon)
        errors = dead_task_errors(stack.daemon)
    finally:
        stop_error = await stop_quietly(stack)
    run_s = loop.time() - t0 - gen_s

    by_coord = dict(zip(acked, meta))
    outcome: dict[str, Counter] = defaultdict(Counter)
    for c, m in by_coord.items():
        outcome[m["kind"]]["dead_letter" if c in dead else "inbox" if c in inbox else
                           "duplicate" if c in dup_coords else "MISSING"] += 1
    missing = [(c, by_coord[c]["kind"]) for c in coords - dead - inbox - dup_coords]
    both = dead & inbox
    stray = (dead | inbox) - coords
    dup_written = dup_coords & (dead | inbox)
    reasons = Counter(r["reason"] for r in await pool.fetch("SELECT reason FROM dead_letters"))

    valid_keys = {m["order"] for m in meta if m["valid"]}
    kind_of = {m["order"]: m["kind"] for m in meta if not m["valid"]}
    states: dict[str, Counter] = defaultdict(Counter)
    stuck, no_reason, hostile_synced, currency_synced = [], [], [], []
    for r in rows:
        key = (r["shop"], r["order_id"])
        if key in valid_keys:
            continue
        kind = kind_of.get(key, "?")
        states[kind][r["sync_state"]] += 1
        if r["due_seq"] > r["done_seq"] or r["lease_owner"] is not None or r["sync_state"] not in (
                "dead", "pending", "ignored", "cancelled", "received") and kind != "currency_mismatch":
            stuck.append((key, kind, r["sync_state"]))
        elif not r["pending_reasons"] and kind != "currency_mismatch":
            no_reason.append((key, kind, r["sync_state"]))
        if r["sync_state"] in ("invoiced", "open", "waiting_stock", "creating"):
            (currency_synced if kind == "currency_mismatch" else hostile_synced).append((key, kind, r["sync_state"]))
    valid_rows = [r for r in rows if (r["shop"], r["order_id"]) in valid_keys]
    valid_states = Counter(r["sync_state"] for r in valid_rows)
    expected_ids = {f"#{oid}" for (_, oid) in valid_keys}
    # Orders in another currency than the shop's reach Heartland today (see the xfail test below):
    # they are counted and shown apart so this test checks every other category.
    currency_ids = {f"#H{oid}" for (shop, oid), kind in kind_of.items() if kind == "currency_mismatch"}
    acme = check_heartland(await sandbox_state(http, sandbox_url, "acme"), expected_ids)
    globex = check_heartland(await sandbox_state(http, sandbox_url, "globex"), set())
    id_kind = {f"#H{oid}": kind for (shop, oid), kind in kind_of.items()}
    unexpected = Counter(id_kind.get(x, x) for x in acme["unexpected"] + globex["unexpected"])
    # A hostile order left `pending` (with a reason) may hold a Heartland order in pending status for
    # staff: that is the daemon's designed outcome, shown apart. Anything else written is wrong.
    state_of = {f"#H{r['order_id']}": r["sync_state"] for r in rows}
    pending_ids = {x for x, st_ in state_of.items() if st_ == "pending"}
    wrong_writes = [x for x in acme["unexpected"] + globex["unexpected"] if x not in currency_ids | pending_ids]
    pending_written = sorted(set(acme["unexpected"] + globex["unexpected"]) & pending_ids)

    print(f"\n[bad input] generated {N_HOSTILE} hostile records in {gen_s:.1f}s (+{N_VALID} valid, "
          f"{N_REDELIVERED} redelivered); events sent {len(records)}, ran {run_s:.1f}s")
    print(f"  accounted: {len(dead)} dead letters + {len(inbox)} inbox events + {len(dup_coords)} duplicates "
          f"= {len(dead) + len(inbox) + len(dup_coords)} of {len(coords)}; missing {len(missing)} "
          f"{missing[:5]}, in both tables {len(both)}, duplicates written {len(dup_written)}")
    print(f"  dead-letter reasons {dict(reasons)}")
    print(f"  per category {dict((k, dict(v)) for k, v in sorted(outcome.items()))}")
    print(f"  hostile order states {dict((k, dict(v)) for k, v in sorted(states.items()))}")
    print(f"  orders converged (valid) {sum(valid_states[s] for s in ('invoiced', 'waiting_stock'))}/{N_VALID} "
          f"{dict(valid_states)}; hostile stuck {len(stuck)} {stuck[:5]}, without reason {len(no_reason)} "
          f"{no_reason[:5]}, hostile synced {len(hostile_synced)} {hostile_synced[:5]}")
    print(f"  heartland acme {acme['orders']} orders, globex {globex['orders']}; not valid orders written "
          f"{dict(unexpected)} (left pending for staff: {len(pending_written)} "
          f"{[(x, id_kind.get(x)) for x in pending_written[:5]]}; other wrong writes: {len(wrong_writes)}); duplicates "
          f"{acme['duplicate_orders']} orders / {acme['duplicate_invoices']} invoices; lost {acme['lost']}; "
          f"negative stock rows {acme['negative_stock_rows'] + globex['negative_stock_rows']}")
    print(f"  daemon tasks alive {alive} {errors}; {stop_error or 'stopped cleanly'}")

    assert all(alive.values()) and not errors and stop_error is None, (alive, errors, stop_error)
    assert not missing and not both and not stray and not dup_written
    assert len(dead) + len(inbox) + len(dup_coords) == len(records)
    assert not stuck, stuck[:10]
    assert not no_reason, no_reason[:10]
    assert valid_states and set(valid_states) <= {"invoiced", "waiting_stock"} and len(valid_rows) == N_VALID
    assert acme["lost"] == 0 and acme["duplicate_orders"] == 0 and acme["duplicate_invoices"] == 0
    assert acme["over_invoiced_lines"] == 0
    assert acme["negative_stock_rows"] == 0 and globex["negative_stock_rows"] == 0
    assert not hostile_synced, hostile_synced[:10]
    assert not wrong_writes, wrong_writes[:10]


# -- records that kill the inbox writer ------------------------------------------------------------
# Each is one record parse_record does not turn into a MalformedRecord: the exception leaves
# InboxConsumer._write, and _write_with_retry's except clause itself raises AttributeError
# (asyncpg.PostgresConnectionStatusError does not exist), so the inbox-write task dies and every
# later record on every partition stays unwritten. Kept out of the big mix above so that test
# checks everything else; these show the failure one cause at a time.

def _poison(kind: str, oid: int, wid: str) -> Raw:
    p = _base(oid)
    head = _headers(wid=wid)
    if kind == "int_over_4300_digits":
        body = json.dumps(p)[:-1].encode() + b', "x": 1' + b"0" * 5000 + b"}"
        return f"{SHOP}/{oid}".encode(), body, head
    if kind == "refunds_not_a_list":
        p["refunds"] = 1.5
    elif kind == "updated_at_year_9999_with_offset":
        p["updated_at"] = "9999-12-31T23:59:59-05:00"
    elif kind == "updated_at_year_1_with_offset":
        p["updated_at"] = "0001-01-01T00:00:00+05:00"
    elif kind == "triggered_at_header_year_1_with_offset":
        head = [(n, b"0001-01-01T00:00:00+01:00" if n == "shopify-triggered-at" else v) for n, v in head]
    return f"{SHOP}/{oid}".encode(), json.dumps(p).encode(), head


@pytest.mark.timeout(60)
@pytest.mark.parametrize("kind", [
    pytest.param(k) for k in ("int_over_4300_digits", "refunds_not_a_list", "updated_at_year_9999_with_offset", "updated_at_year_1_with_offset",
              "triggered_at_header_year_1_with_offset")])
async def test_one_poison_record_is_dead_lettered_and_the_next_order_still_syncs(
        kind, db_url, pool, kafka_bootstrap, sandbox_url, http):
    topic = f"orders-{uuid.uuid4().hex[:10]}"
    await create_topic(kafka_bootstrap, topic, partitions=1)
    cfg = stack_config(db_url=db_url, bootstrap=kafka_bootstrap, topic=topic, sandbox_url=sandbox_url,
                       daemon={"lease_s": 10})
    stack = Stack(cfg, sandbox_url, http, pool)
    good = valid_orders(1, start=VALID_ID0 + 500)
    await stack.start_daemon()
    try:
        acked = await produce_acked(kafka_bootstrap, topic, [_poison(kind, HOSTILE_ID0 - 1, f"p-{uuid.uuid4()}"),
                                                             *as_raw(good)])
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 15
        settled = None
        while loop.time() < deadline and not dead_task_errors(stack.daemon):
            settled = await pool.fetchval("SELECT sync_state FROM orders WHERE order_id = $1 AND due_seq = done_seq "
                                          "AND lease_owner IS NULL", good[0].order_id)
            if settled in ("invoiced", "waiting_stock"):
                break
            await asyncio.sleep(0.2)
        errors = dead_task_errors(stack.daemon)
    finally:
        stop_error = await stop_quietly(stack)
    dead = await pool.fetch("SELECT reason FROM dead_letters")
    events = await pool.fetchval("SELECT count(*) FROM events")
    print(f"\n[poison {kind}] events sent {sum(a is not None for a in acked)}: dead letters "
          f"{[r['reason'] for r in dead]}, inbox events {events}, the good order after it: {settled}; "
          f"dead tasks {errors}; {stop_error or 'stopped cleanly'}")
    assert not errors and stop_error is None, (errors, stop_error)
    # Accounted for exactly once: a dead letter, or (a bad header timestamp or a non-list `refunds`
    # still leaves a usable record) an inbox event whose order is judged by the sync core.
    assert (len(dead), events) in ((1, 1), (0, 2)), (len(dead), events)
    assert settled in ("invoiced", "waiting_stock")


@pytest.mark.timeout(60)
async def test_order_in_another_currency_is_not_written_to_heartland(
        db_url, pool, kafka_bootstrap, sandbox_url, http):
    topic = f"orders-{uuid.uuid4().hex[:10]}"
    await create_topic(kafka_bootstrap, topic, partitions=1)
    cfg = stack_config(db_url=db_url, bootstrap=kafka_bootstrap, topic=topic, sandbox_url=sandbox_url)
    stack = Stack(cfg, sandbox_url, http, pool)
    oid = HOSTILE_ID0 - 2
    raw = render("currency_mismatch", {"currency": "JPY"}, SHOP, oid, f"c-{uuid.uuid4()}")
    await stack.start_daemon()
    try:
        await produce_acked(kafka_bootstrap, topic, [raw])
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 15
        row = None
        while loop.time() < deadline:
            row = await pool.fetchrow("SELECT sync_state, pending_reasons FROM orders WHERE order_id = $1 "
                                      "AND due_seq = done_seq AND lease_owner IS NULL", oid)
            if row is not None:
                break
            await asyncio.sleep(0.2)
    finally:
        stop_error = await stop_quietly(stack)
    state = await sandbox_state(http, sandbox_url, "acme")
    written = [o["public_id"] for o in state["orders"]]
    print(f"\n[currency] events sent 1 (currency JPY, shop and account in USD): order "
          f"{dict(row) if row else None}; Heartland orders {written}; {stop_error or 'stopped cleanly'}")
    assert row is not None and row["sync_state"] in ("dead", "pending") and row["pending_reasons"]
    assert written == []
