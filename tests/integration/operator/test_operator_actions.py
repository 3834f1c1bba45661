"""`mortard orders resolve` and the bulk `mortard orders retry --state ...`, on orders seeded
straight into Postgres: what they change, what they refuse, and what they leave in the timeline."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from mortard.operator.order_actions import parse_since
from mortard.operator.errors import UserError
from mortard.ops import Metrics
from mortard.store.resolutions import MAX_NOTE
from mortard.store.stats import orders_by_state, pending_reasons
from stack import SHOP, SHOP2
from test_operator_orders import seed_order

NOW = datetime.now(timezone.utc)


@pytest.fixture(autouse=True)
def who(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("LOGNAME", "alice")      # getpass.getuser() reads LOGNAME first
    return "alice (shell)"


# -- resolve ---------------------------------------------------------------------------------------

async def test_resolve_takes_a_dead_order_off_the_list_and_the_counts_and_keeps_the_note(make_ops, pool, who):
    ops = await make_ops()
    await seed_order(pool, 1001, "dead", last_error="Heartland said 422", changed=NOW - timedelta(hours=1))
    await seed_order(pool, 1002, "dead", changed=NOW - timedelta(hours=1))
    await seed_order(pool, 1003, "pending", reasons=[{"code": "unknown_item", "message": "no SKU-9"}],
                     changed=NOW - timedelta(hours=1))
    assert await orders_by_state(pool) == {"dead": 2, "pending": 1}

    code, out, err = await ops.run("orders", "resolve", SHOP, "#1001", "--note", "invoiced by hand in Heartland")
    assert code == 0, err
    assert f"order #1001 (id 1001) of {SHOP} (dead) resolved by {who}: invoiced by hand in Heartland" in out
    doc = await ops.json("orders", "resolve", SHOP, "1003", "--note", "added SKU-9")
    assert (doc["state"], doc["resolved_by"], doc["note"]) == ("pending", who, "added SKU-9")

    # Off the list (and the dead count) unless asked for; the counts call them resolved.
    listed = await ops.json("orders", "list", "--state", "dead")
    assert [o["order_id"] for o in listed["orders"]] == [1002]
    assert listed["counts"] == {"dead": 1, "resolved": 2}
    code, out, _ = await ops.run("orders", "list")
    assert "#1001" not in out and "#1002" in out and "2 resolved order(s) left out" in out
    every = await ops.json("orders", "list", "--include-resolved")
    assert {o["order_id"]: o["resolved"] for o in every["orders"]} == {1001: True, 1002: False, 1003: True}
    code, out, _ = await ops.run("orders", "list", "--include-resolved")
    assert "dead (resolved)" in out and "pending (resolved)" in out

    # The daemon's gauges: the alert on mortard_orders{state="dead"} sees one, not two.
    m = Metrics(version="test")
    m.set_order_counts(await orders_by_state(pool))
    m.set_pending_reasons(await pending_reasons(pool))
    assert m.orders.labels("dead")._value.get() == 1 and m.orders.labels("resolved")._value.get() == 2
    assert m.orders_pending_reasons.labels("unknown_item")._value.get() == 0

    # The note is in the order's timeline and its header.
    code, out, _ = await ops.run("orders", "show", SHOP, "#1001")
    assert f"resolved by {who}: invoiced by hand in Heartland" in out
    assert f"resolved:" in out and f"by {who} at " in out
    shown = await ops.json("orders", "show", SHOP, "#1001")
    assert shown["resolution"]["by"] == who and shown["resolution"]["note"] == "invoiced by hand in Heartland"
    (note,) = [h for h in shown["history"] if h["kind"] == "note"]
    assert note["detail"]["action"] == "operator_resolve" and note["detail"]["due_seq"] == 1

    # Something new happening to it (a retry moves due_seq on) brings it back, and the gauges stop
    # counting it as resolved once it is no longer dead.
    assert (await ops.run("orders", "retry", SHOP, "#1001"))[0] == 0
    assert (await ops.json("orders", "show", SHOP, "#1001"))["resolution"] is None
    assert await orders_by_state(pool) == {"dead": 1, "failed": 1, "resolved": 1}
    m.set_order_counts(await orders_by_state(pool))
    assert m.orders.labels("resolved")._value.get() == 1 and m.orders.labels("failed")._value.get() == 1


async def test_resolve_refuses_settled_busy_and_unknown_orders_and_empty_or_long_notes(make_ops, pool):
    ops = await make_ops()
    for n, state in ((1001, "invoiced"), (1002, "cancelled"), (1003, "ignored"), (1004, "creating"), (1005, "dead")):
        await seed_order(pool, n, state)
    for n, state in ((1001, "invoiced"), (1002, "cancelled"), (1003, "ignored")):
        code, out, err = await ops.run("orders", "resolve", SHOP, str(n), "--note", "done")
        assert code == 1 and out == ""
        assert err == f"mortard: order #{n} (id {n}) of {SHOP} is {state}: settled, there is nothing to resolve\n"
    code, _, err = await ops.run("orders", "resolve", SHOP, "1004", "--note", "done")
    assert code == 1 and "is creating: mortard is still working on it" in err
    code, _, err = await ops.run("orders", "resolve", SHOP, "#4242", "--note", "done")
    assert code == 1 and err.startswith("mortard: no order #4242 in shop ")
    code, _, err = await ops.run("orders", "resolve", SHOP, "1005", "--note", "   ")
    assert code == 1 and "--note is needed" in err
    code, _, err = await ops.run("orders", "resolve", SHOP, "1005", "--note", "x" * (MAX_NOTE + 1))
    assert code == 1 and f"at most {MAX_NOTE}" in err
    # Nothing was written for any refusal.
    assert await pool.fetchval("SELECT count(*) FROM order_history") == 0
    code, out, _ = await ops.run("orders", "resolve", SHOP, "1005", "--note", "x" * MAX_NOTE, "--json")
    assert code == 0 and await pool.fetchval("SELECT count(*) FROM order_history") == 1


# -- bulk retry ------------------------------------------------------------------------------------

async def _states(pool) -> dict[int, str]:
    return {r["order_id"]: r["sync_state"] for r in await pool.fetch("SELECT order_id, sync_state FROM orders")}


async def test_bulk_retry_takes_every_order_in_the_state_and_writes_who_in_each_timeline(make_ops, pool, who):
    ops = await make_ops()
    await seed_order(pool, 1001, "dead", attempts=12, last_error="503", changed=NOW - timedelta(hours=3))
    await seed_order(pool, 1002, "dead", attempts=12, changed=NOW - timedelta(hours=2))
    await seed_order(pool, 1003, "failed", attempts=3, changed=NOW - timedelta(hours=2))
    await seed_order(pool, 2001, "dead", shop=SHOP2, changed=NOW - timedelta(hours=1))
    code, out, err = await ops.run("orders", "retry", "--state", "dead")
    assert code == 0, err
    assert f"retried 3 order(s) in state dead, asked by {who}" in out
    rows = out[out.index("SHOP"):].splitlines()[2:5]
    assert [r.split()[1] for r in rows] == ["#1001", "#1002", "#2001"]       # the longest dead first
    assert all("dead → failed" in r for r in rows)
    assert await _states(pool) == {1001: "failed", 1002: "failed", 1003: "failed", 2001: "failed"}
    assert await pool.fetchval("SELECT count(*) FROM orders WHERE attempts = 0 AND next_attempt_at <= now()") == 3
    hist = await pool.fetch("SELECT order_id, kind, from_state, to_state, detail FROM order_history ORDER BY order_id")
    assert [(h["order_id"], h["kind"], h["from_state"], h["to_state"], h["detail"]) for h in hist] == [
        (n, "state", "dead", "failed", {"action": "operator_retry", "by": who}) for n in (1001, 1002, 2001)]
    code, out, _ = await ops.run("orders", "retry", "--state", "dead")
    assert code == 0 and out.strip() == "no orders in state dead"


async def test_bulk_retry_filters_by_reason_since_shop_and_limit_and_prints_json(make_ops, pool, who):
    ops = await make_ops()
    refused = [{"code": "heartland_refused", "message": "422"}]
    await seed_order(pool, 1001, "dead", reasons=refused, changed=NOW - timedelta(hours=5))
    await seed_order(pool, 1002, "dead", reasons=refused, changed=NOW - timedelta(minutes=50))
    await seed_order(pool, 1003, "dead", reasons=refused, changed=NOW - timedelta(minutes=40))
    await seed_order(pool, 1004, "dead", reasons=[{"code": "unknown_item", "message": "SKU-9"}],
                     changed=NOW - timedelta(minutes=30))
    await seed_order(pool, 2001, "dead", shop=SHOP2, reasons=refused, changed=NOW - timedelta(minutes=20))

    preview = await ops.json("orders", "retry", "--state", "dead", "--reason", "heartland_refused", "--since", "1h",
                             "--dry-run")
    assert [o["order_id"] for o in preview["would_retry"]] == [1002, 1003, 2001] and preview["dry_run"]
    assert set((await _states(pool)).values()) == {"dead"}                   # a dry run changes nothing

    doc = await ops.json("orders", "retry", "--state", "dead", "--reason", "heartland_refused", "--since", "1h",
                         "--shop", SHOP, "--limit", "1")
    assert [(o["order_id"], o["from_state"], o["to_state"]) for o in doc["retried"]] == [(1002, "dead", "failed")]
    assert doc["matched"] == 2 and doc["remaining"] == 1 and doc["by"] == who
    assert doc["filter"]["shop"] == SHOP and doc["filter"]["reason"] == "heartland_refused"
    assert await _states(pool) == {1001: "dead", 1002: "failed", 1003: "dead", 1004: "dead", 2001: "dead"}

    # An ISO time, and the shop given by its short name.
    since = (NOW - timedelta(hours=6)).isoformat()
    doc = await ops.json("orders", "retry", "--state", "dead", "--since", since, "--shop", SHOP2.split(".")[0])
    assert [o["order_id"] for o in doc["retried"]] == [2001]
    doc = await ops.json("orders", "retry", SHOP, "--state", "dead", "--reason", "unknown_item")
    assert [o["order_id"] for o in doc["retried"]] == [1004]
    assert await _states(pool) == {1001: "dead", 1002: "failed", 1003: "dead", 1004: "failed", 2001: "failed"}


async def test_bulk_retry_leaves_resolved_orders_alone_unless_asked(make_ops, pool):
    ops = await make_ops()
    await seed_order(pool, 1001, "dead")
    await seed_order(pool, 1002, "dead")
    assert (await ops.run("orders", "resolve", SHOP, "1001", "--note", "refunded in Shopify"))[0] == 0
    doc = await ops.json("orders", "retry", "--state", "dead")
    assert [o["order_id"] for o in doc["retried"]] == [1002]
    doc = await ops.json("orders", "retry", "--state", "dead", "--include-resolved")
    assert [(o["order_id"], o["resolved"]) for o in doc["retried"]] == [(1001, True)]


async def test_bulk_retry_refuses_what_it_cannot_mean(make_ops, pool):
    ops = await make_ops()
    await seed_order(pool, 1001, "invoiced")
    cases = [
        (("--state", "invoiced"), "orders in state invoiced are settled"),
        (("--state", "deadd"), "unknown state 'deadd'"),
        (("--state", "dead", "--since", "yesterday"), "--since 'yesterday': expected a duration"),
        (("--state", "dead", "--since", "2999-01-01T00:00:00Z"), "that is in the future"),
        (("--state", "dead", "--limit", "0"), "--limit must be at least 1"),
        ((SHOP, "1001", "--state", "dead"), "not both"),
        (("--reason", "heartland_refused"), "needs SHOP ORDER, or --state"),
        ((SHOP, "1001", "--since", "1h"), "--since filters a bulk retry"),
    ]
    for argv, said in cases:
        code, out, err = await ops.run("orders", "retry", *argv)
        assert code == 1 and out == "" and said in err and err.count("\n") == 1, (argv, err)
    assert await pool.fetchval("SELECT count(*) FROM order_history") == 0


def test_since_reads_durations_and_iso_times_as_aware_utc():
    now = datetime(2026, 11, 27, 14, 0, tzinfo=timezone.utc)
    assert parse_since("90m", now) == now - timedelta(minutes=90)
    assert parse_since("1.5d", now) == now - timedelta(hours=36)
    assert parse_since("2026-11-27T10:00:00", now) == datetime(2026, 11, 27, 10, tzinfo=timezone.utc)
    assert parse_since("2026-11-27T12:00:00+02:00", now) == datetime(2026, 11, 27, 10, tzinfo=timezone.utc)
    with pytest.raises(UserError):
        parse_since("2026-11-28T00:00:00Z", now)


async def test_orders_list_filters_by_reason_code(make_ops, pool):
    """The runbook's `orders list --state failed --reason heartland_token_refused`."""
    ops = await make_ops()
    refused = [{"code": "heartland_token_refused", "message": "acme answers 401"}]
    await seed_order(pool, 1001, "failed", reasons=refused, changed=NOW - timedelta(minutes=5))
    await seed_order(pool, 1002, "failed", reasons=[{"code": "heartland_unavailable", "message": "503"}],
                     changed=NOW - timedelta(minutes=4))
    await seed_order(pool, 1003, "pending", reasons=refused + [{"code": "unknown_item", "message": "SKU-9"}],
                     changed=NOW - timedelta(minutes=3))
    doc = await ops.json("orders", "list", "--reason", "heartland_token_refused")
    assert sorted(o["order_id"] for o in doc["orders"]) == [1001, 1003]
    doc = await ops.json("orders", "list", "--state", "failed", "--reason", "heartland_token_refused")
    assert [o["order_id"] for o in doc["orders"]] == [1001]
    code, out, _ = await ops.run("orders", "list", "--reason", "no_such_code")
    assert code == 0 and "no orders with reason no_such_code" in out
