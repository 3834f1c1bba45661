"""`mortard <command>`: the daemon, its helpers, and the operator's commands.

Exit codes: 0 success, 1 a failure the user can fix (one clear line on stderr), 2 bad usage,
69 (EX_UNAVAILABLE) Postgres or Kafka stayed unreachable for [daemon] startup_timeout_s,
75 (EX_TEMPFAIL) a stop overran its budget, 78 (EX_CONFIG) the configuration is wrong (the systemd
units' RestartPreventExitStatus=78 keeps a wrong config from restart-looping).
"""
from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Callable, Sequence

from mortard import __version__
from mortard.config import Config, ConfigError, load_config
from mortard.operator.errors import UserError


def _config(args: argparse.Namespace) -> Config:
    return load_config(args.config)


def _logging(args: argparse.Namespace, cfg: Config | None = None) -> None:
    from mortard.ops import configure_logging
    level = getattr(args, "log_level", None) or (cfg.logging.level if cfg else "info")
    fmt = cfg.logging.format if cfg else "auto"
    configure_logging(json=None if fmt == "auto" else fmt == "json", level=level)


def cmd_run(args: argparse.Namespace) -> int:
    from mortard.app import run_daemon
    from mortard.ops import eventloop
    from mortard.store.instance import InstanceTaken
    cfg = _config(args)
    _logging(args, cfg)
    try:
        return eventloop.run(run_daemon(cfg), cfg.daemon.event_loop)
    except InstanceTaken as exc:
        raise UserError(str(exc)) from None


def cmd_migrate(args: argparse.Namespace) -> int:
    from mortard.store.db import migrate, pool_from_config
    cfg = _config(args)
    _logging(args, cfg)

    async def go() -> list[str]:
        pool = await pool_from_config(cfg.database, cfg.database_password)
        try:
            async with pool.acquire() as conn:
                return await migrate(conn)
        finally:
            await pool.close()

    applied = asyncio.run(go())
    print(f"applied {len(applied)} migration(s)" + (": " + ", ".join(applied) if applied else ""))
    return 0


def cmd_ingest(args: argparse.Namespace) -> int:
    from mortard.ingest.service import run_ingest
    from mortard.ops import Metrics
    cfg = _config(args)
    _logging(args, cfg)

    async def go() -> None:
        import signal
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await run_ingest(cfg, metrics=Metrics(version=__version__), stop=stop)

    asyncio.run(go())
    return 0


def cmd_sandbox(args: argparse.Namespace) -> int:
    from mortard.sandbox import main as sandbox_main
    _logging(args)
    return sandbox_main(args.rest)


def cmd_demo(args: argparse.Namespace) -> int:
    from mortard.demo.run import main as demo_main
    return demo_main(args)


def cmd_console(args: argparse.Namespace) -> int:
    if args.verb == "hash-password":
        from mortard.console.cli import hash_password_command
        return hash_password_command()
    from mortard.console.app import serve
    cfg = _config(args)
    _logging(args, cfg)
    asyncio.run(serve(cfg))
    return 0


def _ops(name: str) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        from mortard import operator
        # Secrets are looked for only when a command uses one: reading Postgres needs no tokens.
        cfg = load_config(args.config, defer_secrets=True)
        if getattr(args, "shop", None):
            from mortard.operator.shop_names import full_shop_name
            args.shop = full_shop_name(args.shop, cfg.shops)
        return asyncio.run(getattr(operator, name)(cfg, args))
    return run


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="mortard", description="Shopify orders into Heartland Retail, via Kafka and Postgres.")
    p.add_argument("--version", action="version", version=f"mortard {__version__}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(name: str, fn: Callable[[argparse.Namespace], int], help: str, config: bool = True) -> argparse.ArgumentParser:
        sp = sub.add_parser(name, help=help, description=help)
        if config:
            sp.add_argument("--config", "-c", default=None, help="TOML config file (MORTARD_* env vars override it)")
        sp.add_argument("--log-level", default=None, help="debug, info, warning, error")
        sp.set_defaults(func=fn)
        return sp

    add("run", cmd_run, "run the daemon: consume order events and sync them into Heartland")
    add("migrate", cmd_migrate, "apply database migrations and exit")
    add("ingest", cmd_ingest, "run the Shopify webhook receiver that produces to Kafka")
    sb = add("sandbox", cmd_sandbox, "run the local Heartland Retail API sandbox", config=False)
    sb.add_argument("rest", nargs=argparse.REMAINDER, help="sandbox options (--host, --port, --fixture, --faults)")
    console = add("console", cmd_console, "serve the web console (overview, queues, orders, actions) on its own port")
    console.add_argument("verb", nargs="?", default="serve", choices=("serve", "hash-password"),
                         help="serve (default), or hash-password: print a password hash for [console.users]")
    demo = add("demo", cmd_demo, "run the whole system on embedded servers and play a Shopify day through it",
               config=False)
    demo.add_argument("--orders", type=int, default=60, help="orders to play (default 60)")
    demo.add_argument("--rate", type=float, default=30.0, help="webhooks per second (default 30)")
    demo.add_argument("--keep", action="store_true", help="keep the stack running for exploring (Ctrl-C to stop)")
    demo.add_argument("--dir", default=".demo", help="where the embedded servers keep their data")
    demo.add_argument("--seed", type=int, default=7)
    demo.add_argument("--json", action="store_true", help="print the summary as JSON")

    orders = sub.add_parser("orders", help="look at and push along orders").add_subparsers(dest="verb", required=True)
    for verb, help_ in (("list", "orders by state, with reasons"), ("show", "one order's whole timeline"),
                        ("plan", "what mortard would do to Heartland now (dry run)")):
        sp = orders.add_parser(verb, help=help_, description=help_)
        sp.add_argument("--config", "-c", default=None)
        sp.add_argument("--json", action="store_true", help="machine-readable output")
        if verb == "list":
            sp.add_argument("--state", default=None, help="pending, failed, dead, waiting_stock, invoiced, ...")
            sp.add_argument("--shop", default=None)
            sp.add_argument("--reason", default=None, help="only orders with a reason of this code")
            sp.add_argument("--limit", type=int, default=50)
            sp.add_argument("--include-resolved", action="store_true",
                            help="also orders a person resolved (`orders resolve`)")
        else:
            sp.add_argument("shop")
            sp.add_argument("order", help="Shopify order id or name (#1001)")
        sp.set_defaults(func=_ops(f"orders_{verb}"))
    help_ = "run an order again now: SHOP ORDER, or --state STATE for every order in it"
    sp = orders.add_parser("retry", help=help_, description=help_)
    sp.add_argument("--config", "-c", default=None)
    sp.add_argument("--json", action="store_true", help="machine-readable output")
    sp.add_argument("shop", nargs="?", default=None)
    sp.add_argument("order", nargs="?", default=None, help="Shopify order id or name (#1001)")
    bulk = sp.add_argument_group("bulk retry", "every order matching these filters, the longest waiting first")
    bulk.add_argument("--state", default=None, help="dead, failed, pending, waiting_stock, ...")
    bulk.add_argument("--reason", default=None, help="only orders giving this reason code")
    bulk.add_argument("--since", default=None,
                      help="only orders in the state since then: a duration (30m, 2h, 1d) or an ISO time")
    bulk.add_argument("--shop", dest="only_shop", default=None, help="only this shop's orders")
    bulk.add_argument("--limit", type=int, default=100, help="at most this many (default 100)")
    bulk.add_argument("--include-resolved", action="store_true", help="also orders a person resolved")
    bulk.add_argument("--dry-run", action="store_true", help="list the orders it would retry, change nothing")
    bulk.add_argument("--yes", "-y", action="store_true", help="don't ask on a terminal")
    sp.set_defaults(func=_ops("orders_retry"))
    help_ = "mark an order handled by a person, with a note: it leaves the lists and the counts"
    sp = orders.add_parser("resolve", help=help_, description=help_)
    sp.add_argument("--config", "-c", default=None)
    sp.add_argument("--json", action="store_true", help="machine-readable output")
    sp.add_argument("shop")
    sp.add_argument("order", help="Shopify order id or name (#1001)")
    sp.add_argument("--note", required=True, help="what was done (kept in the order's timeline)")
    sp.set_defaults(func=_ops("orders_resolve"))
    sp = orders.add_parser("resync", help="fetch an order from Shopify (even one never seen) and sync it",
                           description="fetch an order from Shopify (even one never seen) and sync it")
    sp.add_argument("--config", "-c", default=None)
    sp.add_argument("--json", action="store_true", help="machine-readable output")
    sp.add_argument("shop")
    sp.add_argument("order", help="Shopify order id or name (#1001)")
    sp.set_defaults(func=_ops("orders_resync"))
    dlq = sub.add_parser("dlq", help="dead letters").add_subparsers(dest="verb", required=True)
    for verb, help_ in (("list", "records that could not be taken in"), ("replay", "send dead letters back to the topic"),
                        ("show", "one dead letter: its record's key, headers and payload")):
        sp = dlq.add_parser(verb, help=help_, description=help_)
        sp.add_argument("--config", "-c", default=None)
        sp.add_argument("--json", action="store_true")
        if verb == "show":
            sp.add_argument("id", type=int, help="the dead letter's id (`mortard dlq list`)")
            sp.set_defaults(func=_ops("dlq_show"))
            continue
        sp.add_argument("--limit", type=int, default=50)
        if verb == "replay":
            sp.add_argument("ids", nargs="*", type=int, help="dead letter ids (default: all not yet replayed)")
            sp.add_argument("--force", action="store_true", help="replay even dead letters already replayed")
        sp.set_defaults(func=_ops(f"dlq_{verb}"))
    shops = sub.add_parser("shops", help="per-shop settings").add_subparsers(dest="verb", required=True)
    for verb, help_ in (("show", "a shop's effective settings"), ("set", "override settings: KEY=VALUE ..."),
                        ("add", "register a shop (settings still come from the config file)")):
        sp = shops.add_parser(verb, help=help_, description=help_)
        sp.add_argument("--config", "-c", default=None)
        sp.add_argument("--json", action="store_true")
        sp.add_argument("shop", nargs="?" if verb == "show" else None)
        if verb == "set":
            sp.add_argument("assignments", nargs="+", metavar="KEY=VALUE")
        if verb == "add":
            sp.add_argument("--account", default=None,
                            help="Heartland account (default: the shop's account in the config file)")
        sp.set_defaults(func=_ops(f"shops_{verb}"))
    sp = shops.add_parser("webhooks", help="the shop's webhook subscriptions: needed, missing, pointing elsewhere",
                          description="the shop's webhook subscriptions: needed, missing, pointing elsewhere")
    sp.add_argument("--config", "-c", default=None)
    sp.add_argument("--json", action="store_true")
    sp.add_argument("shop")
    sp.add_argument("--fix", action="store_true",
                    help="create the missing subscriptions (exit 1 while any is still missing or wrong)")
    sp.set_defaults(func=_ops("shops_webhooks"))
    return p


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    from mortard.consume.topics import TopicsMissing
    from mortard.ops.startup import EX_CONFIG, EX_UNAVAILABLE, StartupFailed
    try:
        return int(args.func(args) or 0)
    except BrokenPipeError:
        return _reader_gone()
    except (ConfigError, TopicsMissing) as exc:
        return _fail(args, exc, EX_CONFIG, "config")
    except StartupFailed as exc:
        return _fail(args, exc, EX_UNAVAILABLE, "unavailable")
    except UserError as exc:
        return _fail(args, exc, 1, "user")
    except KeyboardInterrupt:
        return 130
    except OSError as exc:
        return _fail(args, exc, 1, "os")


def _fail(args: argparse.Namespace, exc: BaseException, code: int, kind: str) -> int:
    """One line on stderr; with `--json` also one JSON document on stdout, so a pipe into a JSON
    reader gets an error it can parse rather than nothing."""
    print(f"mortard: {exc}", file=sys.stderr)
    if getattr(args, "json", False):
        import json
        try:
            print(json.dumps({"error": {"message": str(exc), "kind": kind, "exit_code": code}}), flush=True)
        except BrokenPipeError:
            return _reader_gone()
    return code


def _reader_gone() -> int:
    """stdout's reader left (`mortard orders list | head`): stop quietly, as a tool killed by SIGPIPE
    would (128 + 13), without Python's complaint about the unflushable stdout at exit."""
    import os
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (AttributeError, ValueError, OSError):
        pass   # stdout is not a file (a test's capture): nothing will flush it at exit
    return 141

