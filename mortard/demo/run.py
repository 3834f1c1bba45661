"""`mortard demo`: the whole system on embedded servers, with a Shopify day played through it.

One process starts a noida-db broker, PostgreSQL, the Heartland sandbox, the ingest endpoint and the
daemon (`stack.py`); plays the day's webhooks over HTTP with valid (and a few invalid) HMAC signatures
(`play.py`); waits until every order has settled; prints a summary (`summary.py`); and stops
everything (or, with `--keep`, keeps it running until Ctrl-C).

For tests and scripts: `await run_demo(orders=20, rate=200, data_dir=tmp, seed=7, on_settled=check)`
returns a `DemoResult`; `on_settled(stack, summary)` runs while every server is still up.
"""
from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from mortard.demo.config_file import write_config_file
from mortard.demo.play import PlayStats, play, wait_settled
from mortard.demo.progress import LogStream, ProgressLine, progress_loop
from mortard.demo.scenario import Scenario, build_scenario
from mortard.demo.stack import DEMO_CONSOLE_USER, DemoStack, SHOPS, demo_config, shop_catalogs, start_stack
from mortard.demo.summary import gather, render, sandbox_json
from mortard.store.stats import EXPLORE_QUERIES


@dataclass
class DemoResult:
    summary: dict[str, Any]
    scenario: Scenario
    settled: bool


async def run_demo(orders: int = 60, rate: float = 30.0, data_dir: str | Path = ".demo", seed: int = 7,
                   keep: bool = False, *, settle_timeout: float = 90.0,
                   progress: IO[str] | ProgressLine | None = None,
                   on_settled: Callable[[DemoStack, dict[str, Any]], Awaitable[None]] | None = None
                   ) -> DemoResult:
    """Start the stack, play the day, wait for it to settle, gather the summary, call `on_settled`
    (servers still up), then stop everything — or with `keep`, wait until cancelled first."""
    if orders < 1 or rate <= 0:
        raise ValueError("--orders must be at least 1 and --rate above 0")
    line = progress if isinstance(progress, ProgressLine) else ProgressLine(progress)
    t0 = time.monotonic()
    stack = await start_stack(Path(data_dir), line.say)
    progress_task: asyncio.Task[None] | None = None
    try:
        assert stack.http is not None and stack.pool is not None
        t_ready = time.monotonic()
        state_before = await sandbox_json(stack.http, f"{stack.sandbox_url}/_sandbox/state")
        scenario = build_scenario(seed, orders, await shop_catalogs(stack, state_before))
        stats = PlayStats()
        phase = ["playing"]
        line.say(f"stack up in {t_ready - t0:.1f} s; playing {len(scenario.deliveries)} webhooks "
                 f"for {orders} orders at {rate:g}/s")
        progress_task = asyncio.create_task(progress_loop(stack, scenario, stats, line, t0, phase))
        await play(stack, scenario, rate, stats)
        t_played = time.monotonic()
        phase[0] = "settling"
        settled = await wait_settled(stack, scenario, settle_timeout)
        t_settled = time.monotonic()
        progress_task.cancel()
        await asyncio.gather(progress_task, return_exceptions=True)
        progress_task = None
        line.update(f"[{t_settled - t0:5.1f}s] done: webhooks {stats.sent}/{len(scenario.deliveries)}, "
                    f"{'all orders settled' if settled else 'NOT all orders settled'}", force=True)
        line.clear()
        if line.tty and not line.quiet:
            print(file=line.stream)
        explore = {
            "postgres_url": stack.postgres_url, "psql": "psql", "queries": list(EXPLORE_QUERIES),
            "sandbox_url": stack.sandbox_url, "metrics_url": stack.metrics_url,
            "ingest_url": stack.webhook_url, "ingest_metrics_url": f"{stack.ingest_url}/metrics",
            "data_dir": str(stack.data_dir), "kept": keep,
            "console_url": stack.console_url, "console_login": f"{DEMO_CONSOLE_USER} / {stack.console_password}",
        }
        if keep and stack.config_data is not None:
            path = write_config_file(stack.data_dir, *stack.config_data)
            explore["config_file"] = str(path)
            explore["cli"] = _cli_name()
            first = scenario.orders[0]
            explore["example_order"] = [first.shop.split(".", 1)[0], first.name]
        summary = await gather(
            stack.pool, stack.http, stack.sandbox_url, stock_before=state_before,
            ingest_answers=stats.answers, scenario=scenario,
            timings={"startup": t_ready - t0, "playing": t_played - t_ready, "settling": t_settled - t_played,
                     "total": t_settled - t0},
            shop_accounts={s.domain: s.account + ("" if s.auto_invoice else " (auto-invoice off)") for s in SHOPS},
            explore=explore)
        summary["ingest"]["retried"] = stats.retried
        if stats.errors:
            summary["ingest"]["errors"] = stats.errors[:10]
        if on_settled is not None:
            await on_settled(stack, summary)
        if keep:
            await asyncio.Event().wait()      # until cancelled (Ctrl-C)
        return DemoResult(summary, scenario, settled)
    finally:
        if progress_task is not None:
            progress_task.cancel()
            await asyncio.gather(progress_task, return_exceptions=True)
        line.clear()
        await stack.stop()


def _cli_name() -> str:
    """How this process was started as the CLI, for the suggestions it prints."""
    if Path(sys.argv[0]).name == "mortard":
        return sys.argv[0]
    return f"{sys.executable} -m mortard"


def main(args: argparse.Namespace) -> int:
    from mortard.ops import configure_logging

    line = ProgressLine(sys.stderr)
    log_file: IO[str] | None = None
    if line.tty:      # logs clear the progress line before they print
        stream: IO[str] = LogStream(line, sys.stderr)  # type: ignore[assignment]
    else:             # plain progress lines on stderr; the logs in a file, so the two never interleave
        Path(args.dir).mkdir(parents=True, exist_ok=True)
        stream = log_file = open(Path(args.dir) / "demo.log", "w", encoding="utf-8")
        line.say(f"logs go to {log_file.name}")
    configure_logging(level=getattr(args, "log_level", None) or "warning", stream=stream)
    outcome: dict[str, Any] = {}
    try:
        return asyncio.run(_main(args, outcome, line))
    except KeyboardInterrupt:
        return 130
    finally:
        if log_file is not None:
            log_file.close()


async def _main(args: argparse.Namespace, outcome: dict[str, Any], line: ProgressLine) -> int:
    loop = asyncio.get_running_loop()
    task = asyncio.current_task()
    assert task is not None
    interrupted = [False]

    def on_signal() -> None:
        if interrupted[0]:
            print("\nmortard demo: still stopping the servers…", file=sys.stderr, flush=True)
            return
        interrupted[0] = True
        print("\nmortard demo: stopping…", file=sys.stderr, flush=True)
        task.cancel()

    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, on_signal)

    async def show(stack: DemoStack, summary: dict[str, Any]) -> None:
        outcome["summary"] = summary
        if args.json:
            print(json.dumps(summary, indent=2, default=str), flush=True)
        else:
            print(render(summary), flush=True)

    try:
        result = await run_demo(args.orders, args.rate, args.dir, args.seed, args.keep,
                                progress=line, on_settled=show)
    except asyncio.CancelledError:
        if args.keep and "summary" in outcome:
            return 0          # Ctrl-C is how --keep ends
        print("mortard demo: interrupted; every server was stopped", file=sys.stderr)
        return 130
    except (RuntimeError, TimeoutError, OSError, ValueError) as exc:
        print(f"mortard demo: {exc}", file=sys.stderr)
        return 1
    if not result.settled:
        print("mortard demo: not every order settled in time (see the summary)", file=sys.stderr)
        return 1
    return 0


__all__ = ["DemoResult", "DemoStack", "SHOPS", "demo_config", "main", "run_demo", "start_stack"]

