"""The watch over waiting orders: Heartland calls per interval for N waiting orders on one account.

Sets up N orders waiting for stock (open in the sandbox, one undistributed line each, over a few
hundred items; their rows in Postgres as the machine leaves them), then runs passes of the real
watch (`mortard.sync.watch_runner.WatchRunner`: the store's SQL, the gateway over the HTTP client,
the account's rate limits) against the sandbox over HTTP, counting the requests its client sent:

1. a pass with no stock anywhere (the steady state);
2. a pass after stock arrived for some of the orders (the chosen ones are made due);
3. a pass after staff changed one order by hand (drift: one full read more).

It prints, per pass, the Heartland requests, the orders re-planned, the watch's budget, and the
share of the account's rate budget per interval the pass used. Goal: a handful of calls per
interval, not one per order.

    .venv/bin/python bench/watch.py                 # 1,000 orders, ~40 s
    .venv/bin/python bench/watch.py --orders 200    # quicker
"""
from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from aiohttp import web  # noqa: E402

from _stack import quiet_logs  # noqa: E402
from mortard.heartland import AccountLimits, HeartlandAccount, HeartlandClient  # noqa: E402
from mortard.heartland.catalog import AccountCatalog  # noqa: E402
from mortard.heartland_contract.dialect import DEFAULT_DIALECT  # noqa: E402
from mortard.heartland.gateway import HeartlandGateway  # noqa: E402
from mortard.sandbox import create_app  # noqa: E402
from mortard.store.db import create_pool, migrate  # noqa: E402
from mortard.store.watch import WatchStore  # noqa: E402
from mortard.sync.machine import ShopRuntime  # noqa: E402
from mortard.sync.model import HLine, HPayment, Mirror  # noqa: E402
from mortard.sync.settings import ShopSettings  # noqa: E402
from mortard.sync.watch_runner import WatchRunner, WatchSettings  # noqa: E402
from mortard.testing import EmbeddedPostgres  # noqa: E402

SHOP = "acme-store.myshopify.com"
TOKEN = "sandbox-token-acme"
PRICE = Decimal("10.00")


class Counting:
    """A HeartlandObserver that counts the responses the client got (every request sent)."""

    def __init__(self) -> None:
        self.requests = 0

    def on_response(self, account: str, method: str, status: int | None, seconds: float) -> None:
        self.requests += 1

    def on_rate_limited(self, account: str) -> None:
        pass


async def seed(client: HeartlandClient, pool: Any, n: int, items: int) -> None:
    """n open orders with one undistributed line of 1 unit, and their settled rows in Postgres."""
    customer = await client.create_customer({"first_name": "Pat", "last_name": "Buyer", "email": "pat@example.com"})
    address = await client.add_customer_address(customer, {"first_name": "Pat", "last_name": "Buyer",
                                                           "line_1": "1 Main St", "city": "Springfield",
                                                           "state": "IL", "postal_code": "62701", "country": "US"})
    sem = asyncio.Semaphore(32)

    async def one(i: int) -> tuple:
        async with sem:
            item = 1 + i % items
            oid = await client.create_order({"customer_id": customer, "source_location_id": 1, "station_id": 1,
                                             "public_id": f"#{5000 + i}", "shipping_charge": Decimal("0.00"),
                                             "shipping_address_id": address, "billing_address_id": address})
            line = await client.add_order_line(oid, {"item_id": item, "qty": 1, "original_unit_price": PRICE,
                                                     "adjusted_unit_price": PRICE, "description": "bench"})
            pay = await client.add_order_payment(oid, PRICE, 1)
            await client.set_order_status(oid, "open")
            mirror = Mirror(customer_searched=True, customer_id=customer, order_id=oid, status="open",
                            billing_address_id=address, shipping_address_id=address,
                            lines=(HLine(line, 100 + i, item, 1, PRICE, PRICE, None),),
                            payments=(HPayment(pay, PRICE, 1),))
            return (SHOP, 5000 + i, f"#{5000 + i}", oid, mirror.to_json())

    rows = await asyncio.gather(*(one(i) for i in range(n)))
    await pool.executemany(
        "INSERT INTO orders (shop, order_id, order_name, sync_state, heartland_account, heartland_order_id, mirror, "
        "first_event_at) VALUES ($1, $2, $3, 'waiting_stock', 'acme', $4, $5, now() - ($2::bigint - 5000) * interval '1 second')",
        rows)


async def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--orders", type=int, default=1000)
    ap.add_argument("--items", type=int, default=250, help="distinct items the orders wait for")
    ap.add_argument("--rate", type=float, default=5.0, help="the account's rate limit, requests/s")
    ap.add_argument("--interval", type=float, default=60.0, help="the watch's interval, s")
    ap.add_argument("--share", type=float, default=0.1, help="the watch's share of the account's rate")
    ap.add_argument("--sweep-reads", type=int, default=WatchSettings().sweep_reads,
                    help="full reads a pass of orders mortard took there (payments show on no header)")
    ap.add_argument("--arrive", type=int, default=100, help="units that arrive before pass 2")
    args = ap.parse_args()
    quiet_logs()

    pg = EmbeddedPostgres()
    await asyncio.to_thread(pg.start)
    runner = web.AppRunner(create_app(None), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    base = f"http://127.0.0.1:{port}/acme/api/"
    pool = await create_pool(pg.url, min_size=1, max_size=8)
    try:
        async with pool.acquire() as conn:
            await migrate(conn)
        fast = HeartlandClient(HeartlandAccount("acme", TOKEN, base, rate_per_second=5000, burst=500,
                                                max_concurrency=64, initial_concurrency=32))
        import aiohttp
        async with aiohttp.ClientSession() as http:
            await http.put(f"http://127.0.0.1:{port}/_sandbox/accounts/acme/inventory",
                           json=[{"item": f"SKU-{i:04d}", "location": loc, "on_hand": 0}
                                 for i in range(1, args.items + 1) for loc in ("S01", "S02", "S03")])
            t0 = time.monotonic()
            await seed(fast, pool, args.orders, args.items)
            seeded_s = time.monotonic() - t0

            counting = Counting()
            account = HeartlandAccount("acme", TOKEN, base, rate_per_second=args.rate, burst=10)
            client = HeartlandClient(account, observer=counting, limits=AccountLimits.for_account(account))
            catalog = AccountCatalog(client)
            gateway = HeartlandGateway(client, catalog)
            await catalog.catalog(())        # read once at start, as the daemon does (not a watch call)
            shops = {SHOP: ShopRuntime(ShopSettings(), "acme", gateway)}
            watch = WatchRunner(WatchStore(pool, "bench"), shops, DEFAULT_DIALECT, rates={"acme": args.rate},
                                settings=WatchSettings(args.interval, args.share, sweep_reads=args.sweep_reads),
                                busy=lambda a: client.limits.paused_until is not None)
            per_interval = args.rate * args.interval
            out = []

            async def one_pass(label: str) -> None:
                before = counting.requests
                started = time.monotonic()
                report = await watch.pass_once("acme")
                took = time.monotonic() - started
                sent = counting.requests - before
                out.append((label, f"{sent}", f"{report.calls}", f"{len(report.replanned)}", f"{len(report.drift)}",
                            f"{report.budget}", f"{100 * sent / per_interval:.2f} %", f"{took:.2f}"))

            await one_pass("no stock anywhere")
            await pool.execute("UPDATE orders SET done_seq = due_seq, next_attempt_at = NULL")
            await http.put(f"http://127.0.0.1:{port}/_sandbox/accounts/acme/inventory",
                           json=[{"item": f"SKU-{i:04d}", "location": "S01", "on_hand": 1}
                                 for i in range(1, min(args.arrive, args.items) + 1)])
            await one_pass(f"{min(args.arrive, args.items)} units arrived")
            # Those made due would now run in the machine and take the units; put the orders back
            # to waiting and the stock back to none, so the next pass is about the hand edit alone.
            await pool.execute("UPDATE orders SET done_seq = due_seq, next_attempt_at = NULL")
            await http.put(f"http://127.0.0.1:{port}/_sandbox/accounts/acme/inventory",
                           json=[{"item": f"SKU-{i:04d}", "location": "S01", "on_hand": 0}
                                 for i in range(1, min(args.arrive, args.items) + 1)])
            oid = await pool.fetchval("SELECT heartland_order_id FROM orders ORDER BY order_id DESC LIMIT 1")
            (line,) = await fast.list_order_lines(oid)
            await fast.update_order_line(oid, int(line["id"]), {"qty": 2})
            await one_pass("one order edited by hand")
            await fast.close()
            await client.close()

        print(f"\nThe watch over {args.orders} waiting orders ({args.items} items) on one account, "
              f"rate {args.rate:g} req/s, interval {args.interval:g} s, share {args.share:g}, "
              f"sweep {args.sweep_reads} full read(s) a pass "
              f"(seeded in {seeded_s:.1f} s)\n")
        head = ("pass", "requests sent", "counted by the watch", "re-planned", "drift", "watch budget",
                "of the account's rate per interval", "pass s")
        widths = [max(len(str(r[i])) for r in (head, *out)) for i in range(len(head))]
        for r in (head, *out):
            print("  ".join(str(c).ljust(w) for c, w in zip(r, widths)))
        print(f"\n(the account allows {per_interval:g} requests per interval; the watch's budget is "
              f"{args.share:g} of it, at least 2. Cores: {os.cpu_count()}, load {os.getloadavg()[0]:.2f})")
    finally:
        await pool.close()
        await runner.cleanup()
        await asyncio.to_thread(pg.stop)
    return 0


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
