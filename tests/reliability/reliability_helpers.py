"""Shared pieces of the infrastructure and bad-input reliability tests.

Kept apart from test_reliability_daemon.py (which has its own copies) so the two files can change
independently; the checks are the same: settled = one of SETTLED with no due work and no lease.
"""
from __future__ import annotations

import asyncio
import json
import random
from collections import Counter
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

import aiohttp
import asyncpg

from mortard.testing.shopify import LineSpec, OrderSpec, Webhook, order_payload, webhook
from kafka_helpers import started_producer
from stack import SHOP

SETTLED = ("invoiced", "waiting_stock", "open", "pending", "dead", "cancelled", "ignored")
# SKUs with stock in the sandbox's default fixture (acme).
SKUS = [f"SKU-{i:04d}" for i in (2, 5, 9, 14, 22)]

Raw = tuple[bytes | None, bytes | None, list[tuple[str, bytes]]]   # key, value, headers


def valid_orders(n: int, start: int) -> list[Webhook]:
    rng = random.Random(start)
    out = []
    for i in range(n):
        lines = [LineSpec(sku, rng.randint(1, 2), Decimal(rng.choice(["12.00", "24.50", "49.99"])))
                 for sku in rng.sample(SKUS, rng.randint(1, 3))]
        out.append(webhook("orders/create", SHOP, order_payload(OrderSpec(start + i, start + i, lines,
                                                                          shipping=Decimal("5.00")))))
    return out


def as_raw(hooks: Sequence[Webhook]) -> list[Raw]:
    return [(h.key, h.body, h.kafka_headers()) for h in hooks]


async def produce_acked(bootstrap: str, topic: str, records: Sequence[Raw], *,
                        start_timeout: float = 30.0) -> list[tuple[int, int] | None]:
    """Send records with acks=all; per record its (partition, offset) once the broker acked it, else None.

    Only an acked record counts as sent: a record whose send failed may or may not be in the log,
    so the tests expect nothing of it (and it can't make a duplicate, only an extra order).
    """
    async with started_producer(bootstrap, start_timeout=start_timeout, max_request_size=4_000_000,
                                request_timeout_ms=15_000, linger_ms=5) as producer:
        futures = []
        for key, value, headers in records:
            futures.append(await producer.send(topic, value=value, key=key, headers=headers))
        results = await asyncio.gather(*futures, return_exceptions=True)
    return [None if isinstance(m, BaseException) else (m.partition, m.offset) for m in results]


async def fetch_retrying(pool: asyncpg.Pool, sql: str, *args: Any, timeout: float = 30.0) -> list[asyncpg.Record]:
    """pool.fetch that rides out a Postgres restart (the test's own pool sees it too)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        try:
            return await pool.fetch(sql, *args)
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, asyncio.TimeoutError):
            if loop.time() > deadline:
                raise
            await asyncio.sleep(0.2)


async def settle(pool: asyncpg.Pool, n: int, timeout: float) -> list[asyncpg.Record]:
    """Wait until at least n orders are settled; fail with a per-state summary otherwise."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    rows: list[asyncpg.Record] = []
    while loop.time() < deadline:
        rows = await fetch_retrying(pool, "SELECT shop, order_id, sync_state, pending_reasons FROM orders "
                                          "WHERE sync_state = ANY($1::text[]) AND due_seq = done_seq "
                                          "AND lease_owner IS NULL", list(SETTLED))
        if len(rows) >= n:
            return rows
        await asyncio.sleep(0.2)
    summary = await fetch_retrying(pool, "SELECT sync_state, count(*) AS n, count(lease_owner) AS leased, "
                                         "sum((due_seq > done_seq)::int) AS due, max(last_error) AS err "
                                         "FROM orders GROUP BY sync_state")
    raise AssertionError(f"{len(rows)} of {n} settled: {[dict(r) for r in summary]}")


def invoices_charging_again(state: dict) -> list[int]:
    """Complete invoices that bill units already billed: each invoice, in the order Heartland made
    them, adds its units to the order line it names (else to the order's item); one that takes any
    line or item past what the order holds is a second invoice for the same goods. Two invoices at
    one location are not by themselves a duplicate: a line routed there later (stock arrived, a
    re-plan after a crash) is rightly invoiced on its own."""
    lines = {ln["id"]: ln for o in state["orders"] for ln in o["lines"]}
    held_by_item = Counter()
    for o in state["orders"]:
        for ln in o["lines"]:
            held_by_item[(o["id"], ln["item_id"])] += ln["qty"]
    billed_line: Counter = Counter()
    billed_item: Counter = Counter()
    again = []
    for inv in sorted((i for i in state["invoices"] if i["status"] == "complete"), key=lambda i: i["id"]):
        over = False
        for il in inv.get("lines") or ():
            key = (inv["order_id"], il["item_id"])
            billed_item[key] += il["qty"]
            over |= billed_item[key] > held_by_item[key]
            line = lines.get(il.get("order_line_id"))
            if line is not None:
                billed_line[line["id"]] += il["qty"]
                over |= billed_line[line["id"]] > line["qty"]
        if over:
            again.append(inv["id"])
    return again


def check_heartland(state: dict, expected_public_ids: set[str]) -> dict[str, Any]:
    """No duplicate order per public_id, no line invoiced twice, no stock below zero, nothing lost."""
    names = Counter(o["public_id"] for o in state["orders"])
    dup_orders = sum(c - 1 for c in names.values() if c > 1)
    over_invoiced = sum(1 for o in state["orders"] for ln in o["lines"] if ln["qty_invoiced"] > ln["qty"])
    negative = sum(1 for r in state["inventory"] if r["qty_on_hand"] < 0)
    dup_invoices = len(invoices_charging_again(state))
    return {"orders": len(names), "duplicate_orders": dup_orders, "duplicate_invoices": dup_invoices,
            "over_invoiced_lines": over_invoiced, "negative_stock_rows": negative,
            "lost": len(expected_public_ids - set(names)), "unexpected": sorted(set(names) - expected_public_ids)}


async def sandbox_state(http: aiohttp.ClientSession, url: str, account: str = "acme") -> dict:
    async with http.get(f"{url}/_sandbox/state", params={"account": account}) as r:
        r.raise_for_status()
        data = json.loads(await r.text(), parse_float=Decimal)
    return data["accounts"][account]


def daemon_alive(daemon: Any) -> dict[str, bool]:
    """Whether the daemon's long-lived tasks are still running (a dead task means a silent stall).

    Reads private attributes on purpose: `Daemon` exposes no health of its own tasks.
    """
    out = {}
    consumer = daemon.consumer
    for task in getattr(consumer, "_tasks", []):
        out[task.get_name()] = not task.done()
    sweeper = getattr(daemon.scheduler, "_sweeper", None)
    if sweeper is not None:
        out["sync-sweeper"] = not sweeper.done()
    for task in getattr(daemon, "_background", []):
        out[task.get_name()] = not task.done()
    return out


def dead_task_errors(daemon: Any) -> dict[str, str]:
    out = {}
    tasks = list(getattr(daemon.consumer, "_tasks", [])) + list(getattr(daemon, "_background", []))
    sweeper = getattr(daemon.scheduler, "_sweeper", None)
    if sweeper is not None:
        tasks.append(sweeper)
    for task in tasks:
        if task.done() and not task.cancelled() and task.exception() is not None:
            exc = task.exception()
            cause = exc.__context__
            out[task.get_name()] = f"{type(exc).__name__}: {str(exc)[:150]}" + (
                f" (while handling {type(cause).__name__}: {str(cause)[:150]})" if cause is not None else "")
    return out


async def stop_quietly(stack: Any) -> str | None:
    """Stop the stack's daemon; if Daemon.stop raises (a dead task's exception surfaces there), close
    what it left open so the next test starts clean, and return the error instead of raising."""
    daemon = stack.daemon
    if daemon is None:
        return None
    try:
        await stack.stop_daemon()
        return None
    except Exception as exc:      # noqa: BLE001 - reported by the caller
        err = f"Daemon.stop raised {type(exc).__name__}: {str(exc)[:200]}"
    stack.daemon = None
    consumer = daemon.consumer
    for part in (getattr(consumer, "_consumer", None), getattr(consumer, "_producer", None)):
        if part is not None:
            try:
                await part.stop()
            except Exception:      # noqa: BLE001
                pass
    for task in getattr(consumer, "_tasks", []):
        task.cancel()
    if daemon.scheduler is not None:
        await daemon.scheduler.drain(2.0)
    for task in daemon._background:
        task.cancel()
    if daemon._monitor is not None:
        await daemon._monitor.stop()
    if daemon.ops is not None:
        await daemon.ops.stop()
    for client in daemon.clients.values():
        await client.close()
    if daemon.pool is not None:
        daemon.pool.terminate()
    return err
