"""Cost per order as ratios measured within one run (issue 17): every figure of the issue's table,
side by side. Each phase is one `bench/pipeline.py` run (its own Postgres, broker and sandbox), the
phases run one after another, and the table compares them. The machine's speed drifts between
phases, so the growth rows are also given against the sandbox's CPU per order of the same phase
(the sandbox answers the same requests with the same code: a yardstick that drifts with the box).

    .venv/bin/python bench/cost.py                      # ~6 min
    .venv/bin/python bench/cost.py --orders 600 --past-orders 100000 --quick   # while developing
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _stack as S  # noqa: E402

PIPELINE = Path(__file__).with_name("pipeline.py")
CLIENT = Path(__file__).with_name("heartland_client.py")


def phase(name: str, argv: list[str], pin: str | None) -> dict[str, Any]:
    out = Path(tempfile.mkstemp(prefix=f"mortard-cost-{name}-", suffix=".json")[1])
    cmd = [S.PY, str(PIPELINE), *argv, "--json-out", str(out)]
    if pin:
        cmd = ["taskset", "-c", pin, *cmd]
    print(f"== {name}: {' '.join(cmd[cmd.index(str(PIPELINE)):-2])}", flush=True)
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    tail = [ln for ln in proc.stdout.splitlines() if ln.startswith(("| orders pushed", "| daemon CPU",
                                                                     "| Heartland calls per", "| orders/s ÷",
                                                                     "| daemon idle", "| sequential", "seeded",
                                                                     "conditions"))]
    print("\n".join("   " + ln for ln in tail), f"\n   ({time.perf_counter() - t0:.0f}s)", flush=True)
    try:
        result = json.loads(out.read_text()) if out.stat().st_size else {}
    finally:
        out.unlink(missing_ok=True)
    if proc.returncode or not result:
        print(proc.stdout[-3000:])
    result["argv"] = " ".join(["bench/pipeline.py", *argv])
    return result


def http_floor(pin: str | None) -> dict[str, float]:
    """Client CPU ÷ sandbox CPU per request for HTTP alone: bare aiohttp (`(r)`) and HeartlandClient
    (`(a)`), from bench/heartland_client.py. Whatever the daemon does besides its requests comes on
    top, so the daemon ÷ sandbox row can't be below these."""
    cmd = [S.PY, str(CLIENT), "--mode", "unlimited", "--duration", "8"]
    if pin:
        cmd = ["taskset", "-c", pin, *cmd]
    print(f"== http floor: {' '.join(cmd[cmd.index(str(CLIENT)):])}", flush=True)
    out = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True).stdout
    found: dict[str, float] = {}
    for ln in out.splitlines():
        if "client CPU ÷ sandbox CPU per request" in ln:
            print("   " + ln, flush=True)
            found[ln.split(")")[0].strip("| (")] = float(ln.split("|")[2])
    if len(found) < 2:
        print(out[-3000:])
    return found


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--orders", type=int, default=2000, help="orders in the backlog phases (default 2000)")
    p.add_argument("--limited-orders", type=int, default=400,
                   help="orders in the rate-limited phases (default 400: ~50 s at 2 × 50 req/s)")
    p.add_argument("--rate", type=float, default=50.0, help="R, req/s per account in the limited phases")
    p.add_argument("--light", type=int, default=12, help="orders in the round-trip phase (default 12)")
    p.add_argument("--past-orders", type=int, default=1_000_000, help="past orders seeded (default 1,000,000)")
    p.add_argument("--past-journal-rows", type=int, default=12, help="journal rows per past order (default 12)")
    p.add_argument("--shops", type=int, default=200, help="shops/accounts in the scale phase (default 200)")
    p.add_argument("--pin", default=None, metavar="CPUS",
                   help="run every phase's processes under `taskset -c CPUS` (e.g. 0 or 0,1)")
    p.add_argument("--quick", action="store_true", help="skip the 150 ms limited phase and noida idle phase")
    p.add_argument("--only", default="", help="comma-separated phases to run (base,floor,noida,light,limited,"
                                              "limited150,past,shops)")
    args = p.parse_args()
    want = set(filter(None, args.only.split(","))) or {"base", "floor", "noida", "light", "limited", "limited150", "past",
                                                        "shops"}
    if args.quick:
        want -= {"limited150", "noida"}
    n = str(args.orders)
    runs: dict[str, dict[str, Any]] = {}
    plan = [
        ("base", ["--orders", n]),
        ("noida", ["--orders", "100", "--broker", "noida"]),
        ("light", ["--light", str(args.light), "--latency-ms", "100", "--idle", "0"]),
        ("limited", ["--rate-limit", f"{args.rate:g}", "--accounts", "2", "--orders", str(args.limited_orders),
                     "--idle", "0"]),
        ("limited150", ["--rate-limit", f"{args.rate:g}", "--accounts", "2", "--orders", str(args.limited_orders),
                        "--latency-ms", "150", "--idle", "0"]),
        ("past", ["--orders", n, "--past-orders", str(args.past_orders), "--past-journal-rows",
                  str(args.past_journal_rows), "--idle", "0"]),
        # the same share of returning buyers per account as with 2 (each account sees 1/K of the orders)
        ("shops", ["--orders", n, "--accounts", str(args.shops), "--buyers", str(max(1, 2000 * 2 // args.shops)),
                   "--idle", "0"]),
    ]
    for name, argv in plan:
        if name in want:
            if name in ("limited", "limited150") and "base" in runs and runs["base"].get("calls"):
                argv = [*argv, "--nominal-calls", f"{runs['base']['calls']:.2f}"]
            runs[name] = phase(name, argv, args.pin)

    floor = http_floor(args.pin) if "floor" in want else {}

    def get(name: str, key: str) -> float:
        return float(runs.get(name, {}).get(key, float("nan")))

    def ratio(a: float, b: float) -> float:
        return a / b if b else float("nan")

    def verdict(ok: bool) -> str:
        return "PASS" if ok else "FAIL"

    rows: list[tuple[str, Any, str]] = []
    b_d, b_s = get("base", "daemon_ms"), get("base", "sandbox_ms")
    r = ratio(b_d, b_s)
    rows.append(("daemon CPU ÷ sandbox CPU per order", r, f"{b_d:.2f} ÷ {b_s:.2f} ms; goal <= 1.0 -> {verdict(r <= 1.0)}"
                                                          f"  [{runs.get('base', {}).get('argv', '-')}]"))
    if floor:
        rows.append(("  HTTP alone: client ÷ sandbox per request", f"{floor.get('r', float('nan')):.2f} / "
                     f"{floor.get('a', float('nan')):.2f}",
                     "bare aiohttp / HeartlandClient against the sandbox: the floor under the row above"
                     "  [bench/heartland_client.py --mode unlimited]"))
    c = get("base", "calls")
    rows.append(("Heartland calls per order, bench mix", c, f"goal <= 12.0 -> {verdict(c <= 12.0)}; at 150 ms per "
                                                            f"call (rate-limited) {get('limited150', 'calls'):.2f}"))
    rt = get("light", "p50_s") / 0.1
    rows.append(("sequential round trips, 2-line new customer", rt,
                 f"p50 event→invoiced ÷ 100 ms; goal <= 8 -> {verdict(rt <= 8)}  [{runs.get('light', {}).get('argv', '-')}]"))
    for name, label in (("limited", "0 ms"), ("limited150", "150 ms")):
        if name in runs:
            f, n429 = get(name, "ceiling_frac"), get(name, "n429")
            share = ratio(n429, get(name, "total_calls"))
            rows.append((f"orders/s ÷ ceiling, {label} per call", f"{f:.1%}, 429 {share:.2%}",
                         f"goal >= 98 %, 0.0 % 429 -> {verdict(f >= 0.98 and n429 == 0)}  [{runs[name]['argv']}]"))
    for name, broker in (("base", "tansu"), ("noida", "noida")):
        if name in runs:
            idle = get(name, "idle")
            rows.append((f"daemon idle CPU, caught up, {broker}", f"{idle:.2%}",
                         f"of a core; goal <= 1 % -> {verdict(idle <= 0.01)}  [{runs[name]['argv']}]"))
    for name, what in (("past", f"{args.past_orders:,} past orders ÷ empty"),
                       ("shops", f"{args.shops} shops ÷ 2")):
        if name in runs:
            g = ratio(get(name, "daemon_ms"), b_d)
            y = ratio(ratio(get(name, "daemon_ms"), get(name, "sandbox_ms")), r)
            per_call = ratio(get(name, "daemon_ms_per_call"), get("base", "daemon_ms_per_call"))
            rows.append((f"cost growth, {what}", g,
                         f"daemon CPU per order; against the sandbox yardstick {y:.2f}, per Heartland call "
                         f"{per_call:.2f}; goal <= 1.1 -> {verdict(g <= 1.1)}  [{runs[name]['argv']}]"))
    S.print_table("bench/cost.py — cost per order, ratios within one run (issue 17)", rows)
    print(f"conditions: {S.conditions()}" + (f"; pinned to CPUs {args.pin}" if args.pin else ""))


if __name__ == "__main__":
    main()
