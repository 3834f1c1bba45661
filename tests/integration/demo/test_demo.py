"""`mortard demo` end to end: its own servers, a small Shopify day, and a summary that must agree with
what Postgres and the sandbox actually hold."""
from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from mortard.demo.run import DemoStack, run_demo
from mortard.demo.scenario import CatalogItem, ShopCatalog, build_scenario
from mortard.demo.summary import render, sandbox_json
from mortard.sandbox import DEFAULT_FIXTURE

ROOT = Path(__file__).resolve().parents[3]


def _fixture_stock() -> dict[str, dict[str, int]]:
    """account -> location -> units on hand, straight from the bundled fixture file."""
    path = Path(DEFAULT_FIXTURE) if not isinstance(DEFAULT_FIXTURE, dict) else None
    data = json.loads(path.read_text()) if path is not None else DEFAULT_FIXTURE
    out: dict[str, dict[str, int]] = {}
    for name, acc in data["accounts"].items():
        locs = out.setdefault(name, {loc["public_id"]: 0 for loc in acc["locations"]})
        for row in acc.get("inventory", []):
            locs[row["location"]] += row["on_hand"]
    return out


async def _console_shows(stack: DemoStack, summary: dict[str, Any], by_state: dict[str, int]) -> None:
    import re
    ex = summary["explore"]
    assert ex["console_url"] == stack.console_url and stack.console_password in ex["console_login"]
    assert f"Console:    {stack.console_url}" in render(summary)
    user, password = ex["console_login"].split(" / ")
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        async with http.get(stack.console_url + "login") as r:
            token = re.search(r'name="csrf" value="([^"]+)"', await r.text()).group(1)
        async with http.post(stack.console_url + "login",
                             data={"csrf": token, "username": user, "password": password}) as r:
            assert r.status == 200 and str(r.url) == stack.console_url
            page = await r.text()
    pending = re.search(r"<strong>(\d+)</strong> pending orders", page)
    assert pending is not None and int(pending.group(1)) == by_state.get("pending", 0)


async def test_the_demo_summary_agrees_with_postgres_and_the_sandbox(tmp_path: Path) -> None:
    seen: dict[str, Any] = {}

    async def check(stack: DemoStack, summary: dict[str, Any]) -> None:
        assert stack.pool is not None and stack.http is not None
        pool = stack.pool
        seen["broker_pid"] = stack.broker._proc.pid if stack.broker and stack.broker._proc else None
        seen["pg_data"] = stack.pg.data_dir if stack.pg and stack.pg.base_dir else None
        seen["ingest_url"] = stack.ingest_url

        # Every order settled: nothing due, nothing leased, nothing half-way.
        busy = await pool.fetchval("SELECT count(*) FROM orders WHERE due_seq > done_seq OR lease_owner IS NOT NULL")
        assert busy == 0 and summary["orders"]["settled"] is True
        assert await pool.fetchval("SELECT count(*) FROM orders WHERE sync_state IN ('received', 'creating', 'failed')") == 0

        # Outcomes are Postgres's.
        by_state = {r["sync_state"]: r["n"] for r in await pool.fetch(
            "SELECT sync_state, count(*) AS n FROM orders GROUP BY sync_state")}
        assert summary["orders"]["by_outcome"] == by_state
        assert summary["orders"]["total"] == sum(by_state.values())
        pending = Counter(reason["code"] for r in await pool.fetch(
            "SELECT pending_reasons FROM orders WHERE sync_state = 'pending'") for reason in r["pending_reasons"])
        assert summary["orders"]["reasons"].get("pending", {}) == dict(pending)

        # The console runs beside it, and its login (printed in the summary) works.
        await _console_shows(stack, summary, by_state)

        # Heartland documents are the sandbox's, and mortard recorded the ones it created.
        state = await sandbox_json(stack.http, f"{stack.sandbox_url}/_sandbox/state")
        docs = summary["heartland"]["by_account"]
        for account, acc in state["accounts"].items():
            assert docs[account]["orders"] == len(acc["orders"])
            assert docs[account]["invoices"] == len(acc["invoices"])
            assert docs[account]["tickets"] == len(acc["tickets"])
        totals = summary["heartland"]["documents"]
        assert totals["invoices"] == sum(len(a["invoices"]) for a in state["accounts"].values())
        recorded = {r["kind"]: r["n"] for r in await pool.fetch(
            "SELECT kind, count(*) AS n FROM heartland_documents GROUP BY kind")}
        assert recorded.get("invoice", 0) == totals["invoices"]
        assert recorded.get("ticket", 0) == totals["tickets"]
        assert recorded.get("order", 0) == totals["orders"] == summary["orders"]["synced_to_heartland"]

        # Stock moved per store: before = the fixture, after = the sandbox now.
        before = _fixture_stock()
        after: dict[str, Counter[str]] = {}
        for account, acc in state["accounts"].items():
            for row in acc["inventory"]:
                after.setdefault(account, Counter())[row["location"]] += row["qty_on_hand"]
        for account, locs in summary["stock"].items():
            for loc, v in locs.items():
                assert v["before"] == before[account].get(loc, 0), (account, loc)
                assert v["after"] == after[account][loc], (account, loc)
                assert v["moved"] == v["after"] - v["before"]
        invoiced_units = sum(line["qty"] for acc in state["accounts"].values() for inv in acc["invoices"]
                             if inv["status"] == "complete" for line in inv["lines"])
        taken = -sum(min(0, v["moved"]) for locs in summary["stock"].values() for v in locs.values())
        assert invoiced_units > 0 and taken > 0

        # Heartland calls are the sandbox's counters.
        requests = await sandbox_json(stack.http, f"{stack.sandbox_url}/_sandbox/requests")
        assert summary["heartland"]["requests"]["total"] == sum(v["total"] for v in requests.values())

        # Dead letters and the inbox match what was sent.
        assert summary["dead_letters"]["total"] == await pool.fetchval("SELECT count(*) FROM dead_letters")
        assert summary["events"]["stored"] == await pool.fetchval("SELECT count(*) FROM events")

        # Latency covers exactly the invoiced orders.
        n_invoiced = await pool.fetchval("SELECT count(*) FROM orders WHERE invoiced_at IS NOT NULL")
        assert summary["latency"]["invoiced_orders"] == n_invoiced
        if n_invoiced:
            assert 0 <= summary["latency"]["p50_s"] <= summary["latency"]["p99_s"] <= summary["latency"]["max_s"]
        seen["summary"] = summary

    result = await asyncio.wait_for(
        run_demo(orders=20, rate=150, data_dir=tmp_path / "demo", seed=11, settle_timeout=40, on_settled=check), timeout=55)
    summary, scenario = result.summary, result.scenario
    assert result.settled and seen["summary"] is summary

    # What the scenario sent, and what came back.
    kinds = scenario.kinds
    assert summary["ingest"]["answers"] == {str(k): v for k, v in scenario.expected_statuses.items()}
    assert summary["ingest"]["answers"]["401"] == kinds["bad signature"]
    assert summary["ingest"]["answers"]["400"] == kinds["not json"]
    assert summary["dead_letters"]["total"] == scenario.expected_dead_letters == kinds["unreadable snapshot"]
    assert summary["events"]["stored"] == scenario.expected_events
    assert summary["orders"]["total"] == len(scenario.orders) == 20
    outcomes = summary["orders"]["by_outcome"]
    assert outcomes.get("ignored") == scenario.shapes["test"]
    assert outcomes.get("dead") == scenario.shapes["unreadable"]
    assert outcomes.get("invoiced", 0) > 0 and outcomes.get("pending", 0) > 0
    assert {"duplicate", "new order"} <= set(kinds)

    text = render(summary)
    for phrase in ("Orders by outcome", "Dead letters", "Heartland documents created", "Stock moved per store",
                   "p50", "Ingest answers", "as the scenario intended", "psql"):
        assert phrase in text, phrase

    # Everything stopped: the broker process, Postgres, the ingest port.
    if seen["broker_pid"]:
        with pytest.raises(ProcessLookupError):
            os.kill(seen["broker_pid"], 0)
    if seen["pg_data"]:
        assert not (Path(seen["pg_data"]) / "postmaster.pid").exists()
    port = int(seen["ingest_url"].rsplit(":", 1)[1])
    with pytest.raises(OSError):
        _, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.close()


def _catalog(shop: str, account: str, auto_invoice: bool) -> ShopCatalog:
    items = tuple(CatalogItem(f"SKU-{i:04d}", f"Item {i}", Decimal(10 + i % 7),
                              {"S01": (i * 3) % 9, "S02": (i * 5) % 4 if i % 4 else 0, "S03": 0 if i % 5 else 6})
                  for i in range(1, 120))
    return ShopCatalog(shop, account, ("S01", "S02", "S03"), items, auto_invoice=auto_invoice)


def test_the_shopify_day_is_deterministic_from_its_seed() -> None:
    cats = [_catalog("a.myshopify.com", "acme", True), _catalog("b.myshopify.com", "globex", False)]
    one, two = build_scenario(5, 40, cats), build_scenario(5, 40, cats)
    assert [(d.kind, d.topic, d.shop, d.body, d.webhook_id) for d in one.deliveries] == \
           [(d.kind, d.topic, d.shop, d.body, d.webhook_id) for d in two.deliveries]
    other = build_scenario(6, 40, cats)
    assert [d.body for d in other.deliveries] != [d.body for d in one.deliveries]
    # Every shape and every kind of follow-up shows up in a day of this size.
    assert set(one.shapes) >= {"one_line", "many_lines", "split", "out_of_stock", "unpaid", "no_address",
                               "unknown_sku", "test", "unreadable"}
    assert set(one.kinds) >= {"new order", "duplicate", "bad signature", "not json", "unreadable snapshot",
                              "refund", "cancellation"}
    # A follow-up for an order never goes out before the order itself.
    first: dict[int, int] = {}
    for d in one.deliveries:
        if d.kind == "new order":
            first.setdefault(d.order_id, d.seq)
    for d in one.deliveries:
        if d.order_id in first and d.kind != "new order":
            assert d.seq > first[d.order_id], d


def test_ctrl_c_stops_every_server(tmp_path: Path) -> None:
    data = tmp_path / "demo"
    proc = subprocess.Popen([sys.executable, "-m", "mortard", "demo", "--orders", "400", "--rate", "20",
                             "--dir", str(data)], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    try:
        deadline = time.monotonic() + 30
        assert proc.stderr is not None
        while time.monotonic() < deadline:
            line = proc.stderr.readline()
            if "playing" in line or not line:
                break
        assert proc.poll() is None, proc.stderr.read()
        time.sleep(1.0)
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130
    # No process is left using the demo's data directory (broker, Postgres).
    leftovers = []
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            if str(data) in cmdline and "pytest" not in cmdline:
                leftovers.append(cmdline)
    assert leftovers == []
    assert not (data / "pg" / "data" / "postmaster.pid").exists()


def test_kept_demo_writes_a_config_the_cli_uses_and_keeps_logs_apart_from_progress(tmp_path: Path) -> None:
    data = tmp_path / "demo"
    env = {k: v for k, v in os.environ.items() if not k.startswith("DEMO_")}
    # Pipes, not a terminal: progress lines on stderr, logs (at info, so there are some) in a file.
    proc = subprocess.Popen([sys.executable, "-m", "mortard", "demo", "--keep", "--orders", "12", "--rate", "60",
                             "--dir", str(data), "--log-level", "info"], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    out_lines: list[str] = []
    try:
        assert proc.stdout is not None
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            out_lines.append(line)
            if "press Ctrl-C" in line:
                break
        out = "".join(out_lines)
        assert "press Ctrl-C" in out, out + (proc.stderr.read() if proc.poll() is not None else "")
        config = data / "mortard.toml"
        assert f"orders list --config {config}" in out
        text = config.read_text()
        assert "sandbox-token" not in text and "webhook-secret" not in text       # secrets live in files
        assert all((p.stat().st_mode & 0o077) == 0 for p in (data / "secrets").iterdir())
        # The operator's commands work against the kept stack with nothing but that file.
        listed = subprocess.run([sys.executable, "-m", "mortard", "orders", "list", "--json", "--config", str(config)],
                                cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
        assert listed.returncode == 0, listed.stderr
        assert len(json.loads(listed.stdout)["orders"]) == 12
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    assert proc.returncode == 0
    assert proc.stderr is not None
    progress = proc.stderr.read().splitlines()
    assert progress and all(ln.startswith(("mortard demo:", "[")) for ln in progress if ln.strip()), progress
    assert "logs go to" in progress[0]
    logged = (data / "demo.log").read_text()
    assert '"event": "migration_applied"' in logged, logged[:2000]       # the logs went to the file
