"""HeartlandClient benchmark against the sandbox (run in its own process, loopback).

(a) unlimited: a mix of GETs and POSTs through `HeartlandClient` with a very high account limit;
    prints client requests/s per client CPU core (and the wall rate, which the single-threaded
    sandbox bounds on a 2-core box).
(b) limited: the sandbox limits the account to R req/s (token bucket, small burst) and the client
    is configured at the same R; after a warm-up, prints the sustained rate as a fraction of R and
    the 429s (from the sandbox's /_sandbox/requests counters) over the measured window.
    Goals: >= 95 % of R, < 1 % 429s.

    .venv/bin/python bench/heartland_client.py [--mode both|unlimited|limited] [--rate 50]
        [--burst 5] [--warmup 10] [--window 60] [--quick] [--duration 10] [--concurrency 32]
"""
from __future__ import annotations

import argparse
import asyncio
import random
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _stack as S  # noqa: E402
from mortard.heartland import HeartlandAccount, HeartlandClient  # noqa: E402
from mortard.heartland_contract.errors import HeartlandError  # noqa: E402
from mortard.ops import eventloop  # noqa: E402

ACCOUNT = "acme"
TOKEN = "sandbox-token-acme"
SKUS = [f"SKU-{i:04d}" for i in range(1, 301)]


class Mix:
    """60 % GET item by id, 15 % GET items by public_id ($in of 3), 15 % POST customer,
    10 % POST customer address (to a customer this run created)."""

    def __init__(self, client: HeartlandClient, seed: int) -> None:
        self.client = client
        self.rng = random.Random(seed)
        self.customers: list[int] = []
        self.by_kind: dict[str, int] = {}
        self.errors: dict[str, int] = {}
        self.first_error_at: float | None = None

    async def one(self) -> None:
        r = self.rng.random()
        c = self.client
        try:
            if r < 0.60:
                kind = "GET item"
                await c.get_item(self.rng.randint(1, 300))
            elif r < 0.75:
                kind = "GET items $in"
                await c.find_items(self.rng.sample(SKUS, 3))
            elif r < 0.90 or not self.customers:
                kind = "POST customer"
                n = self.rng.randrange(1_000_000)
                self.customers.append(await c.create_customer(
                    {"first_name": f"B{n}", "last_name": "Bench", "email": f"b{n}@example.com"}))
                if len(self.customers) > 500:
                    self.customers = self.customers[-500:]
            else:
                kind = "POST address"
                await c.add_customer_address(self.rng.choice(self.customers),
                                             {"line_1": "1 Main St", "city": "Town", "postal_code": "12345"})
        except HeartlandError as exc:
            name = type(exc).__name__
            if self.first_error_at is None:
                self.first_error_at = time.perf_counter()
            self.errors[name] = self.errors.get(name, 0) + 1
            return
        self.by_kind[kind] = self.by_kind.get(kind, 0) + 1


def make_client(url: str, *, rate: float, burst: int, concurrency: int,
                session: aiohttp.ClientSession | None = None) -> HeartlandClient:
    """A client as the daemon makes it: with its own session unless one is given."""
    account = HeartlandAccount(name=ACCOUNT, token=TOKEN, base_url=f"{url}/{ACCOUNT}/api/",
                               rate_per_second=rate, burst=burst, max_concurrency=concurrency,
                               initial_concurrency=concurrency, request_timeout=10.0)
    return HeartlandClient(account, session=session)


async def run_workers(mix: Mix, workers: int, until: float, max_requests: int) -> int:
    done = 0

    async def worker() -> None:
        nonlocal done
        while time.perf_counter() < until and done < max_requests:
            done += 1
            await mix.one()

    await asyncio.gather(*(worker() for _ in range(workers)))
    return done


async def unlimited(args: argparse.Namespace, sandbox: S.SandboxProc) -> list[tuple[str, Any, str]]:
    async with make_client(sandbox.url, rate=1e6, burst=10_000, concurrency=args.concurrency) as client:
        mix = Mix(client, args.seed)
        # short warm-up (connections, caches)
        await run_workers(mix, args.concurrency, time.perf_counter() + 1.0, 10**9)
        mix.by_kind.clear()
        mix.errors.clear()
        cpu0, scpu0, t0 = S.self_cpu(), sandbox.cpu(), time.perf_counter()
        n = await run_workers(mix, args.concurrency, t0 + args.duration, args.max_requests)
        wall = time.perf_counter() - t0
        cpu, scpu = S.self_cpu() - cpu0, sandbox.cpu() - scpu0
    ok = sum(mix.by_kind.values())
    kinds = ", ".join(f"{k} {v}" for k, v in sorted(mix.by_kind.items()))
    return [
        ("(a) requests completed", n, f"{wall:.1f}s, concurrency {args.concurrency}; {kinds}"),
        ("(a) errors", sum(mix.errors.values()), str(mix.errors or "none")),
        ("(a) wall requests/s", n / wall, "bounded by the single-threaded sandbox on 2 cores"),
        ("(a) client CPU s", cpu, f"{cpu / wall * 100:.0f} % of one core"),
        ("(a) client requests/s per CPU core", n / cpu if cpu else float("nan"), "per client CPU-second"),
        ("(a) client CPU µs per request", cpu / n * 1e6 if n else float("nan"),
         "engineering-notes §7 budget ~100 µs"),
        ("(a) sandbox CPU µs per request", scpu / n * 1e6 if n else float("nan"), f"sandbox CPU {scpu:.1f}s"),
        ("(a) client CPU ÷ sandbox CPU per request", cpu / scpu if scpu else float("nan"),
         "HeartlandClient over aiohttp against the aiohttp sandbox, the same requests"),
        ("(a) GET/POST share", f"{sum(v for k, v in mix.by_kind.items() if k.startswith('GET')) / max(1, ok):.0%}"
         f" / {sum(v for k, v in mix.by_kind.items() if k.startswith('POST')) / max(1, ok):.0%}", ""),
    ]


async def raw(args: argparse.Namespace, sandbox: S.SandboxProc) -> list[tuple[str, Any, str]]:
    """The floor under (a): bare aiohttp, `GET /items/{id}` only (the cheapest request for both
    sides), no limits, no retries, no JSON decoding. What the client side of one HTTP request costs
    next to the server side of it, whatever sits on top."""
    headers = {"Authorization": f"Bearer {TOKEN}", "Accept": "application/json"}
    base = f"{sandbox.url}/{ACCOUNT}/api/items/"
    rng = random.Random(args.seed)
    done = 0
    async with aiohttp.ClientSession(headers=headers, cookie_jar=aiohttp.DummyCookieJar()) as session:
        async def worker(until: float) -> None:
            nonlocal done
            while time.perf_counter() < until and done < args.max_requests:
                done += 1
                async with session.get(f"{base}{rng.randint(1, 300)}") as resp:
                    await resp.read()

        await asyncio.gather(*(worker(time.perf_counter() + 1.0) for _ in range(args.concurrency)))
        done = 0
        cpu0, scpu0, t0 = S.self_cpu(), sandbox.cpu(), time.perf_counter()
        await asyncio.gather(*(worker(t0 + args.duration) for _ in range(args.concurrency)))
        wall = time.perf_counter() - t0
        cpu, scpu = S.self_cpu() - cpu0, sandbox.cpu() - scpu0
    return [
        ("(r) bare aiohttp GET /items/{id}", done, f"{wall:.1f}s, concurrency {args.concurrency}"),
        ("(r) client CPU µs per request", cpu / done * 1e6 if done else float("nan"), ""),
        ("(r) sandbox CPU µs per request", scpu / done * 1e6 if done else float("nan"), ""),
        ("(r) client CPU ÷ sandbox CPU per request", cpu / scpu if scpu else float("nan"),
         "aiohttp's client side of a request next to its server side: a floor for any client on it"),
    ]


async def limited(args: argparse.Namespace, sandbox: S.SandboxProc) -> list[tuple[str, Any, str]]:
    R, B = args.rate, args.burst
    window = 15.0 if args.quick else args.window
    async with aiohttp.ClientSession() as http:
        async with http.put(f"{sandbox.url}/_sandbox/faults", json={
                "accounts": {ACCOUNT: {"rate_limit_rps": R, "rate_limit_burst": B}}}) as r:
            r.raise_for_status()
        client = make_client(sandbox.url, rate=R * args.client_rate_factor, burst=args.client_burst or B, concurrency=args.limited_concurrency,
                             session=http)
        mix = Mix(client, args.seed + 1)
        started = time.perf_counter()
        stop_at = started + args.warmup + window + 5
        runner = asyncio.create_task(run_workers(mix, args.workers, stop_at, 10**9))
        if args.provoke_429:
            # Another caller of the same account takes a few tokens once, half-way through the
            # warm-up: the client must see a 429, then recover before the window starts.
            await asyncio.sleep(args.warmup / 2)
            headers = {"Authorization": f"Bearer {TOKEN}"}

            async def take() -> None:
                async with http.get(f"{sandbox.url}/{ACCOUNT}/api/items/1", headers=headers) as resp:
                    await resp.read()

            await asyncio.gather(*(take() for _ in range(B)), return_exceptions=True)
            await asyncio.sleep(args.warmup / 2)
        else:
            await asyncio.sleep(args.warmup)
        before = (await S.sandbox_requests(http, sandbox.url)).get(ACCOUNT, {})
        ok0 = sum(mix.by_kind.values())
        cpu0, t0 = S.self_cpu(), time.perf_counter()
        await asyncio.sleep(window)
        after = (await S.sandbox_requests(http, sandbox.url)).get(ACCOUNT, {})
        wall = time.perf_counter() - t0
        cpu = S.self_cpu() - cpu0
        ok1 = sum(mix.by_kind.values())
        runner.cancel()
        await asyncio.gather(runner, return_exceptions=True)
        async with http.put(f"{sandbox.url}/_sandbox/faults", json={"accounts": {ACCOUNT: None}}) as r:
            r.raise_for_status()

    def count(snap: dict[str, Any]) -> tuple[int, int]:
        total = limited_ = 0
        for statuses in snap.get("requests", {}).values():
            for status, n in statuses.items():
                total += n
                limited_ += n if str(status) == "429" else 0
        return total, limited_

    t0_, l0 = count(before)
    t1_, l1 = count(after)
    total, n429 = t1_ - t0_, l1 - l0
    answered = total - n429
    rate = answered / wall
    frac = rate / R
    pct429 = n429 / total * 100 if total else 0.0
    goal = "PASS" if frac >= 0.95 and pct429 < 1.0 else "FAIL"
    return [
        ("(b) limit R / burst (sandbox)", f"{R:g} req/s / {B}",
         f"client at {R * args.client_rate_factor:g} req/s, burst {args.client_burst or B}, {args.workers} callers"),
        ("(b) warm-up / measured window", f"{args.warmup:g}s / {wall:.1f}s",
         "one 429 provoked half-way through the warm-up" if args.provoke_429 else ""),
        ("(b) requests answered (non-429)", answered, f"client saw {ok1 - ok0} successes in the window"),
        ("(b) sustained rate req/s", rate, ""),
        ("(b) sustained rate / R", f"{frac:.1%}", "goal >= 95 %"),
        ("(b) 429s in window", f"{n429} ({pct429:.2f} %)", f"goal < 1 % -> {goal}"),
        ("(b) client errors (whole run)", sum(mix.errors.values()), str(mix.errors or "none") + (
            f"; first at +{mix.first_error_at - started:.2f}s" if mix.first_error_at else "")),
        ("(b) client CPU % of a core", cpu / wall * 100, ""),
    ]


async def main_async(args: argparse.Namespace, sandbox: S.SandboxProc) -> None:
    rows: list[tuple[str, Any, str]] = []
    if args.mode in ("both", "unlimited", "floor"):
        rows += await raw(args, sandbox)
    if args.mode in ("both", "unlimited"):
        rows += await unlimited(args, sandbox)
    if args.mode in ("both", "limited"):
        rows += await limited(args, sandbox)
    S.print_table("bench/heartland_client.py — HeartlandClient vs sandbox (subprocess, loopback)", rows)
    print(f"conditions: {S.conditions()}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--mode", choices=("both", "unlimited", "limited", "floor"), default="both")
    p.add_argument("--duration", type=float, default=10.0, help="(a) seconds to measure (default 10)")
    p.add_argument("--max-requests", type=int, default=200_000, help="(a) stop after this many requests")
    p.add_argument("--concurrency", type=int, default=32, help="(a) callers and account max_concurrency")
    p.add_argument("--rate", type=float, default=50.0, help="(b) R: req/s limit in sandbox and client (default 50)")
    p.add_argument("--burst", type=int, default=5, help="(b) sandbox bucket size (default 5)")
    p.add_argument("--client-burst", type=int, default=0, help="(b) client GCRA burst (default = --burst)")
    p.add_argument("--client-rate-factor", type=float, default=1.0,
                   help="(b) client rate_per_second = factor x R (default 1.0: the same R)")
    p.add_argument("--workers", type=int, default=32, help="(b) concurrent callers (demand well above R)")
    p.add_argument("--limited-concurrency", type=int, default=8, help="(b) account max_concurrency")
    p.add_argument("--warmup", type=float, default=10.0, help="(b) warm-up seconds (<= 30)")
    p.add_argument("--window", type=float, default=60.0, help="(b) measured window seconds (default 60)")
    p.add_argument("--quick", action="store_true", help="(b) 15 s window")
    p.add_argument("--provoke-429", action="store_true",
                   help="(b) half-way through the warm-up, spend the account's burst from outside the "
                        "client once, so it meets one 429; shows whether it recovers")
    p.add_argument("--seed", type=int, default=7)
    args = p.parse_args()
    args.warmup = min(args.warmup, 30.0)
    S.quiet_logs("error")
    with S.Servers(with_postgres=False, with_kafka=False, with_sandbox=True) as servers:
        assert servers.sandbox is not None
        eventloop.run(main_async(args, servers.sandbox))   # the loop the daemon runs on


if __name__ == "__main__":
    main()
