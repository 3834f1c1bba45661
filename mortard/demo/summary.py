"""The demo's summary: what happened to the day's orders, gathered from Postgres and the sandbox, and
printed for a merchant (or as JSON).

`gather(...)` returns a plain dict (JSON-ready: ints, floats, strings); `render(summary)` turns it
into text. Nothing here changes any state.
"""
from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import aiohttp
import asyncpg

from mortard.store import stats
from mortard.sync.states import SyncState

# In the order the summary lists them: done first, still moving last.
OUTCOMES: tuple[tuple[str, str], ...] = tuple((s.value, s.sentence) for s in (
    SyncState.INVOICED, SyncState.WAITING_STOCK, SyncState.OPEN, SyncState.PENDING, SyncState.CANCELLED,
    SyncState.IGNORED, SyncState.DEAD, SyncState.FAILED, SyncState.CREATING, SyncState.RECEIVED))

async def sandbox_json(http: aiohttp.ClientSession, url: str, **params: str) -> Any:
    async with http.get(url, params=params or None) as resp:
        resp.raise_for_status()
        return json.loads(await resp.text(), parse_float=Decimal)


def stock_by_location(state: Mapping[str, Any]) -> dict[str, dict[str, dict[str, int]]]:
    """account -> location -> {on_hand, committed} summed over items, from `/_sandbox/state`."""
    out: dict[str, dict[str, dict[str, int]]] = {}
    for account, acc in state["accounts"].items():
        locs = out.setdefault(account, {})
        for row in acc["inventory"]:
            loc = locs.setdefault(row["location"], {"on_hand": 0, "committed": 0})
            loc["on_hand"] += int(row["qty_on_hand"])
            loc["committed"] += int(row["qty_committed"])
    return out


def _num(value: Any) -> float | None:
    return None if value is None else round(float(value), 3)


async def gather(pool: asyncpg.Pool, http: aiohttp.ClientSession, sandbox_url: str, *,
                 stock_before: Mapping[str, Any], ingest_answers: Mapping[int, int],
                 scenario: Any | None = None, timings: Mapping[str, float] | None = None,
                 shop_accounts: Mapping[str, str] | None = None,
                 explore: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Everything the summary shows. `stock_before` is the `/_sandbox/state` taken before the day."""
    rows = await stats.order_outcomes(pool)
    by_outcome: Counter[str] = Counter(r.sync_state for r in rows)
    by_shop: dict[str, Counter[str]] = {}
    reasons: dict[str, Counter[str]] = {}
    for r in rows:
        by_shop.setdefault(r.shop, Counter())[r.sync_state] += 1
        if r.sync_state in ("pending", "dead", "ignored", "waiting_stock", "cancelled", "failed"):
            for reason in r.pending_reasons or []:
                reasons.setdefault(r.sync_state, Counter())[str(reason.get("code"))] += 1
    synced = sum(1 for r in rows if r.heartland_order_id is not None)
    busy = sum(1 for r in rows if r.busy)

    dead = await stats.dead_letters_by_reason(pool)
    docs = await stats.documents_by_kind(pool)
    latency = await stats.invoice_latency(pool)
    events = await stats.event_counts(pool)

    state = await sandbox_json(http, f"{sandbox_url}/_sandbox/state")
    requests = await sandbox_json(http, f"{sandbox_url}/_sandbox/requests")

    heartland: dict[str, Any] = {}
    totals: Counter[str] = Counter()
    for account, acc in sorted(state["accounts"].items()):
        orders = acc["orders"]
        doc = {
            "orders": len(orders),
            "orders_by_status": dict(sorted(Counter(o["status"] for o in orders).items())),
            "invoices": len(acc["invoices"]),
            "invoices_complete": sum(1 for i in acc["invoices"] if i.get("status") == "complete"),
            "tickets": len(acc["tickets"]),
            "returns": sum(1 for t in acc["tickets"] if t.get("type") == "Return"),
            "payments": sum(len(o["payments"]) for o in orders) + sum(len(t.get("payments", []))
                                                                       for t in acc["tickets"]),
            "refund_payments": sum(1 for o in orders for p in o["payments"] if Decimal(str(p["amount"])) < 0),
            "customers": len(acc["customers"]),
        }
        heartland[account] = doc
        for key in ("orders", "invoices", "tickets", "returns", "payments", "customers"):
            totals[key] += doc[key]

    before = stock_by_location(stock_before)
    after = stock_by_location(state)
    stock: dict[str, dict[str, dict[str, int]]] = {}
    for account in sorted(set(before) | set(after)):
        for loc in sorted(set(before.get(account, {})) | set(after.get(account, {}))):
            b = before.get(account, {}).get(loc, {"on_hand": 0, "committed": 0})
            a = after.get(account, {}).get(loc, {"on_hand": 0, "committed": 0})
            stock.setdefault(account, {})[loc] = {"before": b["on_hand"], "after": a["on_hand"],
                                                  "moved": a["on_hand"] - b["on_hand"],
                                                  "committed": a["committed"]}

    total_requests = sum(int(v["total"]) for v in requests.values())
    summary: dict[str, Any] = {
        "orders": {
            "total": len(rows),
            "by_outcome": {state: by_outcome[state] for state, _ in OUTCOMES if by_outcome[state]}
            | {s: n for s, n in sorted(by_outcome.items()) if s not in dict(OUTCOMES)},
            "reasons": {state: dict(sorted(c.items())) for state, c in sorted(reasons.items())},
            "by_shop": {shop: dict(sorted(c.items())) for shop, c in sorted(by_shop.items())},
            "synced_to_heartland": synced,
            "settled": busy == 0,
            "still_working": busy,
        },
        "events": {"stored": events.stored, "stale_ignored": events.stale},
        "dead_letters": {"total": sum(dead.values()), "by_reason": dead},
        "heartland": {
            "documents": dict(totals),
            "by_account": heartland,
            "recorded_by_mortard": docs,
            "requests": {
                "total": total_requests,
                "by_account": {a: int(v["total"]) for a, v in sorted(requests.items())},
                "per_synced_order": round(total_requests / synced, 1) if synced else None,
                "faults_injected": {a: v["faults_injected"] for a, v in sorted(requests.items())},
            },
        },
        "stock": stock,
        "latency": {"invoiced_orders": latency.invoiced, "p50_s": _num(latency.p50_s),
                    "p99_s": _num(latency.p99_s), "max_s": _num(latency.max_s)},
        "ingest": {"answers": {str(k): v for k, v in sorted(ingest_answers.items())},
                   "webhooks_sent": sum(ingest_answers.values())},
    }
    if shop_accounts:
        summary["shops"] = dict(shop_accounts)
    if scenario is not None:
        summary["scenario"] = {
            "seed": scenario.seed, "orders": len(scenario.orders), "shapes": scenario.shapes,
            "deliveries": len(scenario.deliveries), "deliveries_by_kind": scenario.kinds,
            "expected_ingest_answers": {str(k): v for k, v in scenario.expected_statuses.items()},
            "expected_dead_letters": scenario.expected_dead_letters,
        }
    if timings:
        summary["timing_s"] = {k: round(v, 2) for k, v in timings.items()}
    if explore:
        summary["explore"] = dict(explore)
    return summary


# -- text -------------------------------------------------------------------------------------------

def _plural(n: int, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else "s")


def render(s: Mapping[str, Any]) -> str:
    out: list[str] = []
    add = out.append
    o = s["orders"]
    sc = s.get("scenario")
    add("")
    title = "mortard demo: a Shopify day, synced into Heartland"
    add(title)
    add("=" * len(title))
    if sc:
        add(f"Played {sc['deliveries']} webhooks for {sc['orders']} orders (seed {sc['seed']}) "
            f"across {len(s.get('shops') or o['by_shop'])} shops: "
            + ", ".join(f"{n} {k}" for k, n in sorted(sc["deliveries_by_kind"].items(), key=lambda kv: -kv[1])) + ".")
    if s.get("shops"):
        add("Shops: " + "; ".join(f"{shop} -> Heartland account {acc}" for shop, acc in s["shops"].items()))
    t = s.get("timing_s") or {}
    if t:
        add("Time: " + ", ".join(f"{k.replace('_', ' ')} {v:.1f} s" for k, v in t.items()))
    add("")
    add(f"Orders by outcome ({o['total']} orders, {o['synced_to_heartland']} in Heartland)")
    labels = dict(OUTCOMES)
    for state, n in o["by_outcome"].items():
        add(f"  {n:>5}  {labels.get(state, state)}")
        for code, k in (o["reasons"].get(state) or {}).items():
            if state in ("pending", "dead", "ignored", "failed") or (state == "cancelled" and code):
                add(f"         {k:>4} x {code}")
    if not o["settled"]:
        add(f"  NOTE: {o['still_working']} orders were still being worked when the wait ended.")
    if len(o["by_shop"]) > 1:
        for shop, states in o["by_shop"].items():
            add(f"  {shop}: " + ", ".join(f"{n} {k}" for k, n in states.items()))
    ev = s["events"]
    add(f"  Events stored: {ev['stored']} ({ev['stale_ignored']} older snapshots kept but not applied)")
    add("")
    dl = s["dead_letters"]
    add(f"Dead letters: {dl['total']}" + (" (" + ", ".join(f"{n} {r}" for r, n in dl["by_reason"].items()) + ")"
                                          if dl["by_reason"] else ""))
    add("")
    h = s["heartland"]
    d = h["documents"]
    add("Heartland documents created")
    add(f"  {d.get('orders', 0)} sales orders, {d.get('invoices', 0)} invoices, {d.get('tickets', 0)} tickets "
        f"({d.get('returns', 0)} returns), {d.get('payments', 0)} payments, {d.get('customers', 0)} customers")
    for account, doc in h["by_account"].items():
        statuses = ", ".join(f"{n} {st}" for st, n in doc["orders_by_status"].items()) or "none"
        add(f"  {account}: orders {statuses}; {_plural(doc['invoices'], 'invoice')}, "
            f"{_plural(doc['tickets'], 'ticket')}, {_plural(doc['payments'], 'payment')} "
            f"({doc['refund_payments']} refunds)")
    r = h["requests"]
    per = f"{r['per_synced_order']:.1f}" if r["per_synced_order"] is not None else "n/a"
    add(f"  Heartland API calls: {r['total']} ({per} per order synced; "
        + ", ".join(f"{a} {n}" for a, n in r["by_account"].items()) + ")")
    add("")
    add("Stock moved per store (units on hand, all items)")
    for account, locs in s["stock"].items():
        for loc, v in locs.items():
            if v["before"] == v["after"] == 0 and not v["committed"]:
                continue
            moved = f"{v['moved']:+d}" if v["moved"] else "  0"
            held = f", {v['committed']} committed to open orders" if v["committed"] else ""
            if loc == "ONLINE" and v["moved"] > 0:
                held += ", returns restocked here (the shop's order-source location)"
            add(f"  {account:<8} {loc:<7} {v['before']:>6} -> {v['after']:>6}  ({moved}){held}")
    add("")
    lat = s["latency"]
    if lat["invoiced_orders"]:
        add(f"Webhook received -> invoiced: p50 {lat['p50_s']:.2f} s, p99 {lat['p99_s']:.2f} s "
            f"(max {lat['max_s']:.2f} s, {lat['invoiced_orders']} orders)")
    else:
        add("Webhook received -> invoiced: no invoiced orders")
    ing = s["ingest"]
    add("Ingest answers: " + ", ".join(f"{n} x {code}" for code, n in ing["answers"].items())
        + f" ({ing['webhooks_sent']} webhooks)")
    if sc:
        exp = sc["expected_ingest_answers"]
        ok = exp == ing["answers"] and sc["expected_dead_letters"] == dl["total"]
        add("  as the scenario intended" if ok else f"  the scenario expected {exp} and "
            f"{sc['expected_dead_letters']} dead letters")
    ex = s.get("explore")
    if ex:
        add("")
        add("Explore")
        add(f"  Postgres:   {ex['postgres_url']}")
        for q in ex.get("queries", []):
            add(f"    {ex.get('psql', 'psql')} '{ex['postgres_url']}' -c \"{q}\"")
        add(f"  Sandbox:    {ex['sandbox_url']}/_sandbox/state?account=acme   ({ex['sandbox_url']}/_sandbox/requests)")
        add(f"  Heartland API as mortard sees it: {ex['sandbox_url']}/acme/api/sales/orders "
            "(Authorization: Bearer sandbox-token-acme)")
        add(f"  Metrics:    {ex['metrics_url']}   (ingest: {ex['ingest_metrics_url']})")
        add(f"  Webhooks:   POST {ex['ingest_url']}")
        if ex.get("console_url"):
            add(f"  Console:    {ex['console_url']}   (log in as {ex['console_login']})")
        if ex.get("config_file"):
            cli, cfg = ex.get("cli", "mortard"), ex["config_file"]
            add(f"  Operator:   {cli} orders list --config {cfg}")
            add(f"              {cli} orders list --state pending --config {cfg}")
            shop, name = ex.get("example_order") or ("acme-outfitters", "#1001")
            add(f"              {cli} orders show {shop} '{name}' --config {cfg}")
            add(f"              {cli} dlq list --config {cfg}")
        if ex.get("kept"):
            add("  The stack keeps running; press Ctrl-C to stop it.")
        else:
            add(f"  (run with --keep to explore these while the stack runs; data in {ex['data_dir']})")
    add("")
    return "\n".join(out)


__all__ = ["OUTCOMES", "gather", "render", "sandbox_json", "stock_by_location"]
