"""Order-and-change scenarios run side by side in "lanes", for fault-vs-fault-free comparisons.

A lane is one shop on its own Heartland sandbox account (all accounts are identical copies of the
default fixture's `acme`, with scenario stock), fed by its own daemon(s) or sharing one. The same
scenario goes to every lane in *phases*: phase 0 creates the orders, phase k sends every order's
k-th change (an edit, a refund with its orders/updated, a cancellation); a phase starts when every
lane has stored the previous one's events and settled. Within a phase the Shopify input is fixed,
so every lane must reach the same Heartland state however its Heartland calls were disturbed; the
reference lane runs without faults and the others are compared with it document by document
(`heartland_compare`).

Stock is plentiful and never contended, so routing can't depend on timing: STOCK_S01 SKUs are at
S01 only, AT_S02 / AT_S03 at one other store each (an order with both kinds splits across stores),
NO_STOCK nowhere (its lines wait for stock). Customers are unique per order (e-mail from the order
id), so two orders never race for one customer.
"""
from __future__ import annotations

import asyncio
import json
import random
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import asyncpg

from kafka_helpers import produce
from mortard.testing.shopify import T0, LineSpec, OrderSpec, Webhook, order_payload, refund_payload, webhook

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_FIXTURE = ROOT / "mortard" / "sandbox" / "fixtures" / "default.json"
TOKEN = "sandbox-token-acme"           # every lane account takes the acme token (env ACME_TOKEN)
TOKEN_ENV = "ACME_TOKEN"

STOCK_S01 = [f"SKU-{i:04d}" for i in range(201, 213)]
AT_S02 = ["SKU-0213", "SKU-0214"]
AT_S03 = ["SKU-0215", "SKU-0216"]
NO_STOCK = ["SKU-0217"]
ADDABLE = [f"SKU-{i:04d}" for i in range(218, 224)]     # added by edits (at S01)
ALL_SKUS = STOCK_S01 + AT_S02 + AT_S03 + NO_STOCK + ADDABLE
PLENTY = 1_000_000
PRICES = {sku: Decimal(p) for sku, p in zip(ALL_SKUS, ["12.00", "24.50", "49.99", "8.25", "19.95", "33.10",
                                                       "5.00", "74.00", "15.49", "27.75", "9.99", "61.20",
                                                       "44.00", "17.30", "21.00", "38.40", "55.55", "13.13",
                                                       "6.60", "29.00", "11.11", "42.42", "18.00", "7.77"])}
SETTLED = ("invoiced", "waiting_stock", "open", "pending", "dead", "cancelled", "ignored")
CHANGES = ("add_line", "qty_up", "refund_return", "refund_no_restock", "refund_cancel", "refund_shipping",
           "refund_full", "cancel")


def shop_of(account: str) -> str:
    return f"{account}-store.myshopify.com"


# ----------------------------------------------------------------------------------- fixture
def lane_fixture(accounts: Sequence[str]) -> dict[str, Any]:
    """The default fixture with one copy of `acme` per lane account and the scenario stock."""
    base = json.loads(DEFAULT_FIXTURE.read_text())
    acme = base["accounts"]["acme"]
    by_sku = {i["public_id"]: i for i in acme["items"]}
    for sku in ALL_SKUS:
        item = by_sku[sku]
        item["active"] = True
        item["track_inventory"] = True
    where = {**{s: "S01" for s in STOCK_S01 + ADDABLE}, **{s: "S02" for s in AT_S02},
             **{s: "S03" for s in AT_S03}}
    ours = set(ALL_SKUS)
    inventory = [r for r in acme.get("inventory", []) if r.get("item") not in ours]
    inventory += [{"item": sku, "location": loc, "on_hand": PLENTY if where.get(sku) == loc else 0}
                  for sku in ALL_SKUS for loc in ("ONLINE", "S01", "S02", "S03")]
    out = {"description": f"fault comparison lanes: {', '.join(accounts)}", "rules": base.get("rules", {}),
           "faults": {"seed": 1}, "accounts": {}}
    for name in accounts:
        acc = json.loads(json.dumps(acme))
        acc["token"] = TOKEN
        acc["inventory"] = inventory
        out["accounts"][name] = acc
    return out


# ----------------------------------------------------------------------------------- scenarios
@dataclass(frozen=True)
class OrderCase:
    """One Shopify order and its changes, in the order they happen."""

    lines: tuple[tuple[str, int], ...]          # (sku, qty)
    changes: tuple[str, ...] = ()
    shipping: bool = True
    discount: bool = False                      # a discount on the first line
    paid: bool = True


def random_cases(rng: random.Random, n: int, *, max_changes: int = 3) -> list[OrderCase]:
    """A realistic mix: mostly one-store orders, some split across stores, some with a no-stock line;
    about half get changes (refunds of every kind, edits, cancellations), 5 % unpaid (pending)."""
    out = []
    for _ in range(n):
        kind = rng.choices(("single", "split", "no_stock"), weights=(70, 20, 10))[0]
        skus = rng.sample(STOCK_S01, rng.choice((1, 1, 2, 2, 3)))
        if kind == "split":
            skus = skus[:1] + [rng.choice(AT_S02)] + ([rng.choice(AT_S03)] if rng.random() < 0.5 else [])
        elif kind == "no_stock":
            skus = skus[:2] + NO_STOCK
        lines = tuple((s, rng.choice((1, 1, 2, 3))) for s in skus)
        paid = rng.random() >= 0.05
        n_changes = rng.choices(range(max_changes + 1), weights=[50, 30, 15, 5][:max_changes + 1])[0]
        pool = CHANGES if paid else ("add_line", "qty_up", "cancel")
        changes = tuple(rng.choices(pool, weights=[8, 6, 10, 5, 6, 4, 3, 8][:len(pool)] if paid else None,
                                    k=n_changes))
        out.append(OrderCase(lines, changes, shipping=rng.random() < 0.6, discount=rng.random() < 0.25,
                             paid=paid))
    return out


class ShopifyOrder:
    """The evolving Shopify side of one case: builds each phase's webhooks."""

    def __init__(self, case: OrderCase, order_id: int) -> None:
        lines = []
        for i, (sku, qty) in enumerate(case.lines):
            price = PRICES[sku]
            disc = (price * qty * Decimal("0.15")).quantize(Decimal("0.01")) if case.discount and i == 0 else Decimal("0")
            lines.append(LineSpec(sku, qty, price, disc))
        self.spec = OrderSpec(order_id, order_id, lines, shipping=Decimal("6.50") if case.shipping else Decimal("0"),
                              tax_rate=Decimal("0.08"), email=f"buyer{order_id}@example.com",
                              first_name=f"Buyer{order_id}", last_name="Faults", paid=case.paid)
        self.case = case
        self.current = {ln.sku: ln.qty for ln in lines}
        self.refunds: list[dict[str, Any]] = []
        self.cancelled = False
        self.shipping_left = self.spec.shipping

    @property
    def name(self) -> str:
        return self.spec.name

    def create(self) -> list[tuple[str, dict[str, Any]]]:
        return [("orders/create", order_payload(self.spec))]

    def _snapshot(self, when: Any) -> dict[str, Any]:
        return order_payload(self.spec, updated_at=when, refunds=list(self.refunds), cancelled=self.cancelled,
                             quantities=dict(self.current))

    def _refund(self, when: Any, k: int, units: dict[str, tuple[int, str]], shipping: Decimal) -> dict[str, Any]:
        r = refund_payload(self.spec, self.spec.order_id * 100 + k * 10, units, shipping=shipping, created_at=when)
        for sku, (qty, _) in units.items():
            self.current[sku] -= qty
        self.shipping_left -= shipping
        self.refunds.append(r)
        return r

    def change(self, kind: str, k: int) -> list[tuple[str, dict[str, Any]]]:
        """The webhooks for change number k (1-based) of this order; [] when it no longer applies."""
        if self.cancelled:
            return []
        when = T0 + timedelta(days=1, hours=k)
        left = [ln for ln in self.spec.lines if self.current[ln.sku] > 0]
        if kind == "add_line":
            sku = next((s for s in ADDABLE if s not in self.current), None)
            if sku is None:
                return []
            self.spec = replace(self.spec, lines=[*self.spec.lines, LineSpec(sku, 1, PRICES[sku])])
            self.current[sku] = 1
            return [("orders/updated", self._snapshot(when))]
        if kind == "qty_up":
            target = next((ln for ln in left if not ln.discount), None)
            if target is None:
                return []
            self.spec = replace(self.spec, lines=[replace(ln, qty=ln.qty + 1) if ln is target else ln
                                                  for ln in self.spec.lines])
            self.current[target.sku] += 1
            return [("orders/updated", self._snapshot(when))]
        if kind in ("refund_return", "refund_no_restock", "refund_cancel"):
            if not left or not self.case.paid:
                return []
            target = left[(k * 7 + self.spec.order_id) % len(left)]
            restock = {"refund_return": "return", "refund_no_restock": "no_restock", "refund_cancel": "cancel"}[kind]
            r = self._refund(when, k, {target.sku: (1, restock)}, Decimal("0"))
            return [("refunds/create", r), ("orders/updated", self._snapshot(when))]
        if kind == "refund_shipping":
            if not self.shipping_left or not self.case.paid:
                return []
            r = self._refund(when, k, {}, self.shipping_left)
            return [("refunds/create", r), ("orders/updated", self._snapshot(when))]
        if kind in ("refund_full", "cancel"):
            units = {ln.sku: (self.current[ln.sku], "return" if kind == "refund_full" else "cancel") for ln in left}
            events: list[tuple[str, dict[str, Any]]] = []
            if self.case.paid and (units or self.shipping_left):
                r = self._refund(when, k, units, self.shipping_left)
                events.append(("refunds/create", r))
            elif kind == "refund_full":
                return []
            if kind == "cancel":
                self.cancelled = True
                events.append(("orders/cancelled", self._snapshot(when)))
            else:
                events.append(("orders/updated", self._snapshot(when)))
            return events
        raise ValueError(f"unknown change {kind!r}")


def build_phases(cases: Sequence[OrderCase], first_order_id: int) -> tuple[list[list[tuple[int, str, dict]]], list[str]]:
    """Per phase, the (order id, topic, payload) to send; and the orders' public ids."""
    orders = [ShopifyOrder(c, first_order_id + i) for i, c in enumerate(cases)]
    phases: list[list[tuple[int, str, dict]]] = [[(o.spec.order_id, t, p) for o in orders for t, p in o.create()]]
    for k in range(1, max((len(c.changes) for c in cases), default=0) + 1):
        phase = []
        for o, c in zip(orders, cases):
            if k <= len(c.changes):
                phase += [(o.spec.order_id, t, p) for t, p in o.change(c.changes[k - 1], k)]
        if phase:
            phases.append(phase)
    return phases, [o.name for o in orders]


def hooks_for(phase: Sequence[tuple[int, str, dict]], shop: str) -> list[Webhook]:
    """The phase's webhooks for one shop (fresh webhook ids per shop, the same payloads)."""
    return [webhook(topic, shop, payload) for _, topic, payload in phase]


# ----------------------------------------------------------------------------------- lanes
@dataclass
class Lane:
    """One shop on its own sandbox account, with the database and topic its daemon(s) use."""

    account: str
    pool: asyncpg.Pool
    bootstrap: str
    topic: str
    orders: set[int] = field(default_factory=set)     # Shopify order ids sent so far
    events_sent: int = 0

    @property
    def shop(self) -> str:
        return shop_of(self.account)


async def send_phase(lanes: Sequence[Lane], phase: Sequence[tuple[int, str, dict]]) -> None:
    for lane in lanes:
        await produce(lane.bootstrap, lane.topic, hooks_for(phase, lane.shop), linger_ms=5,
                      max_batch_size=256 * 1024)
        lane.events_sent += len(phase)
        lane.orders |= {oid for oid, _, _ in phase}


async def _fetch(pool: asyncpg.Pool, sql: str, *args: Any) -> list[asyncpg.Record]:
    for attempt in range(50):
        try:
            return await pool.fetch(sql, *args)
        except (OSError, asyncpg.InterfaceError, asyncpg.PostgresConnectionError, asyncio.TimeoutError):
            if attempt == 49:
                raise
            await asyncio.sleep(0.2)
    raise AssertionError("unreachable")


async def lane_settled(lane: Lane) -> tuple[bool, str]:
    """(settled, summary): every event sent is stored and every order of the lane has converged."""
    events = (await _fetch(lane.pool, "SELECT count(*) AS n FROM events WHERE shop = $1", lane.shop))[0]["n"]
    rows = await _fetch(lane.pool, "SELECT sync_state, (due_seq = done_seq AND lease_owner IS NULL) AS quiet, "
                                   "count(*) AS n FROM orders WHERE shop = $1 AND order_id = ANY($2::bigint[]) "
                                   "GROUP BY 1, 2", lane.shop, list(lane.orders))
    done = sum(r["n"] for r in rows if r["quiet"] and r["sync_state"] in SETTLED)
    ok = events >= lane.events_sent and done == len(lane.orders)
    summary = f"{lane.account}: events {events}/{lane.events_sent}, settled {done}/{len(lane.orders)} " \
              f"{ {(r['sync_state'], r['quiet']): r['n'] for r in rows} }"
    if not ok:
        sample = await _fetch(lane.pool, "SELECT order_name, sync_state, attempts, last_error, pending_reasons::text AS r "
                                         "FROM orders WHERE shop = $1 AND order_id = ANY($2::bigint[]) AND NOT "
                                         "(sync_state = ANY($3::text[]) AND due_seq = done_seq AND lease_owner IS NULL) "
                                         "LIMIT 2", lane.shop, list(lane.orders), list(SETTLED))
        summary += f" e.g. {[dict(r) for r in sample]}"
    return ok, summary


async def nudge(lane: Lane) -> None:
    """Parked orders come back on their own schedule (5 s, doubling); bring that down to a second, as
    an operator's `orders retry` would. Only the timing changes, never what the order does."""
    try:
        await lane.pool.execute("UPDATE orders SET next_attempt_at = now() + interval '1 second' WHERE shop = $1 "
                                "AND sync_state = 'failed' AND next_attempt_at > now() + interval '1 second'", lane.shop)
    except (OSError, asyncpg.InterfaceError, asyncpg.PostgresConnectionError, asyncio.TimeoutError):
        pass


async def wait_lanes(lanes: Sequence[Lane], timeout: float) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    summaries: list[str] = []
    while True:
        results = [await lane_settled(lane) for lane in lanes]
        if all(ok for ok, _ in results):
            return
        summaries = [s for _, s in results]
        if loop.time() > deadline:
            raise AssertionError(f"lanes did not settle within {timeout:g}s: {summaries}")
        for lane in lanes:
            await nudge(lane)
        await asyncio.sleep(0.25)


async def drive(lanes: Sequence[Lane], phases: Sequence[Sequence[tuple[int, str, dict]]], *,
                timeout: float = 90.0) -> None:
    """Send each phase to every lane and wait for all of them to settle before the next."""
    for phase in phases:
        await send_phase(lanes, phase)
        await wait_lanes(lanes, timeout)


async def sync_states(lane: Lane) -> dict[str, str]:
    """public id -> mortard's sync state (with pending reasons), for the lane's orders."""
    rows = await _fetch(lane.pool, "SELECT order_name, sync_state, pending_reasons FROM orders WHERE shop = $1 "
                                   "AND order_id = ANY($2::bigint[])", lane.shop, list(lane.orders))
    return described_states(rows)


def described_states(rows: Any) -> dict[str, str]:
    """Order rows (order_name, sync_state, pending_reasons) as public id -> state with its reasons."""
    out = {}
    for r in rows:
        reasons = r["pending_reasons"]
        reasons = json.loads(reasons) if isinstance(reasons, str) else reasons or []
        codes = sorted({x.get("code") for x in reasons if isinstance(x, dict)})
        out[r["order_name"]] = r["sync_state"] + (f" {codes}" if codes else "")
        if r["sync_state"] in ("dead", "failed"):
            said = "; ".join(str(x.get("message"))[:300] for x in reasons if isinstance(x, dict))
            out[r["order_name"]] += f": {said}"
    return out


# ----------------------------------------------------------------------------------- sandbox
async def start_lane_sandbox(accounts: Sequence[str], *, dialect: dict[str, Any] | None = None,
                             faults: dict[str, Any] | None = None) -> tuple[Any, str]:
    """An in-process sandbox with one account per lane on a loopback port: (runner, base url)."""
    from aiohttp import web

    from mortard.heartland_contract.dialect import Dialect
    from mortard.sandbox import create_app
    app = create_app(lane_fixture(accounts), dialect=Dialect().with_overrides(dialect or {}), faults=faults)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    return runner, f"http://127.0.0.1:{port}"


async def sandbox_state(http: Any, url: str, account: str) -> dict[str, Any]:
    async with http.get(f"{url}/_sandbox/state", params={"account": account}) as r:
        r.raise_for_status()
        data = json.loads(await r.text(), parse_float=Decimal)
    return data["accounts"][account]


async def set_faults(http: Any, url: str, body: dict[str, Any]) -> None:
    async with http.put(f"{url}/_sandbox/faults", json=body) as r:
        if r.status != 200:
            raise AssertionError(f"PUT /_sandbox/faults {body}: {r.status} {await r.text()}")


async def sandbox_counts(http: Any, url: str) -> dict[str, Any]:
    async with http.get(f"{url}/_sandbox/requests") as r:
        r.raise_for_status()
        return await r.json()


# ----------------------------------------------------------------------------------- config
def account_section(account: str, sandbox_url: str, **kw: Any) -> dict[str, Any]:
    acc = {"token_env": TOKEN_ENV, "base_url": f"{sandbox_url}/{account}/api/", "rate_per_second": 2000.0,
           "burst": 500, "max_concurrency": 32, "request_timeout_s": 3.0}
    acc.update(kw)
    return acc


def daemon_config(*, db_url: str, bootstrap: str, topic: str, sandbox_url: str, accounts: Sequence[str],
                  dialect: dict[str, Any] | None = None, account_overrides: dict[str, dict[str, Any]] | None = None,
                  daemon: dict[str, Any] | None = None, kafka: dict[str, Any] | None = None) -> dict[str, Any]:
    """A `mortard run` configuration (as a dict) serving one shop per lane account."""
    return {
        "database": {"url": db_url, "min_pool": 1, "max_pool": 10},
        "kafka": {"bootstrap": bootstrap, "topic": topic, "dead_letter_topic": topic + ".dead",
                  "group_id": f"g-{topic}", "session_timeout_ms": 6000, "heartbeat_interval_ms": 1000,
                  "commit_interval_s": 0.2, **(kafka or {})},
        # Retries come every second here (see `nudge`), not over hours: the retry budget is not under test.
        "daemon": {"ops_port": 0, "sweep_interval_s": 0.2, "drain_timeout_s": 10, "lease_s": 3.0,
                   "max_attempts": 10_000, **(daemon or {})},
        "logging": {"level": "warning", "format": "json"},
        "heartland": {"accounts": {a: account_section(a, sandbox_url, **(account_overrides or {}).get(a, {}))
                                   for a in accounts},
                      "dialect": dict(dialect or {})},
        "shops": {shop_of(a): {"heartland_account": a} for a in accounts},
    }


def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v)
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    raise TypeError(f"no TOML for {v!r}")


def to_toml(cfg: dict[str, Any]) -> str:
    """Enough TOML for `daemon_config` output (tables of scalars, nested by dotted headers)."""
    out: list[str] = []

    def table(prefix: str, d: dict[str, Any]) -> None:
        scalars = {k: v for k, v in d.items() if not isinstance(v, dict)}
        if prefix:
            out.append(f"[{prefix}]")
        out.extend(f"{json.dumps(k) if '.' in k else k} = {_toml_value(v)}" for k, v in scalars.items())
        out.append("")
        for k, v in d.items():
            if isinstance(v, dict):
                table(f"{prefix}.{json.dumps(k) if '.' in k else k}" if prefix else k, v)

    table("", cfg)
    return "\n".join(out)


def wanted(state: dict[str, Any], public_ids: set[str], baseline: dict[str, Any] | None = None) -> dict[str, Any]:
    """One account's state narrowed to the given orders (their invoices, tickets, customers), with the
    inventory given as the change since `baseline` (so runs that share an account compare)."""
    orders = [o for o in state["orders"] if o["public_id"] in public_ids]
    ids = {o["id"] for o in orders}
    customers = {o["customer_id"] for o in orders}
    from heartland_compare import ticket_owner
    out = dict(state)
    out["orders"] = orders
    out["invoices"] = [i for i in state["invoices"] if i["order_id"] in ids]
    out["tickets"] = [t for t in state["tickets"] if ticket_owner(t["public_id"]) in public_ids]
    emails = {f"buyer{pid.lstrip('#')}@example.com" for pid in public_ids}
    out["customers"] = [c for c in state["customers"] if c["id"] in customers or c.get("email") in emails]
    if baseline is not None:
        before = {(r["item_id"], r["location_id"]): r for r in baseline["inventory"]}
        out["inventory"] = [{**r, **{k: r[k] - before.get((r["item_id"], r["location_id"]), {}).get(k, 0)
                                     for k in ("qty_on_hand", "qty_committed", "qty_available")}}
                            for r in state["inventory"]]
    return out


# ----------------------------------------------------------------------------------- verdict
@dataclass
class Verdict:
    """One lane against the reference: Heartland differences per order, duplicates, mortard states."""

    lane: str
    orders: int
    differences: dict[str, list[str]]
    duplicates: Any
    states: dict[str, tuple[str, str]]        # public id -> (reference state, lane state), where they differ
    # Orders the fault-free run itself could not sync (dead or failed): a comparison with a broken
    # reference proves nothing, so they fail the verdict too.
    reference_broken: dict[str, str] = field(default_factory=dict)

    @property
    def wrong_orders(self) -> list[str]:
        from heartland_compare import orders_with_differences
        return orders_with_differences(self.differences)

    @property
    def ok(self) -> bool:
        return not self.differences and not self.duplicates.any() and not self.states and not self.reference_broken

    def describe(self, limit: int = 8) -> str:
        lines = [f"lane {self.lane}: {len(self.wrong_orders)} of {self.orders} orders with wrong Heartland state; "
                 f"duplicates {self.duplicates.total()}; mortard states differing: {len(self.states)}; "
                 f"fault-free run's dead or failed orders: {len(self.reference_broken)}"]
        for pid in list(self.differences)[:limit]:
            lines.append(f"  {pid}: " + " | ".join(self.differences[pid][:6]))
        if self.duplicates.any():
            lines.append(f"  duplicates: {self.duplicates.describe()}")
        for pid, (r, a) in list(self.states.items())[:limit]:
            lines.append(f"  {pid}: sync state {a!r}, fault-free run {r!r}")
        if self.reference_broken:
            lines.append(f"  the fault-free run itself failed {len(self.reference_broken)} orders, e.g. "
                         + " | ".join(f"{k}: {v}" for k, v in list(self.reference_broken.items())[:3]))
        return "\n".join(lines)


def judge(lane: str, ref_state: dict[str, Any], act_state: dict[str, Any], public_ids: set[str], *,
          ref_states: dict[str, str] | None = None, act_states: dict[str, str] | None = None,
          ref_base: dict[str, Any] | None = None, act_base: dict[str, Any] | None = None) -> Verdict:
    from heartland_compare import diff, duplicates
    ref = wanted(ref_state, public_ids, ref_base)
    act = wanted(act_state, public_ids, act_base)
    states = {}
    if ref_states is not None and act_states is not None:
        states = {pid: (ref_states.get(pid, "-"), act_states.get(pid, "-")) for pid in sorted(public_ids)
                  if ref_states.get(pid) != act_states.get(pid)}
    broken = {pid: st for pid, st in (ref_states or {}).items()
              if pid in public_ids and st.startswith(("dead", "failed"))}
    return Verdict(lane, len(public_ids), diff(ref, act), duplicates(act, ref), states, broken)
