"""Running the sandbox as a process: `serve()` and `main(argv)` for `mortard sandbox`."""
from __future__ import annotations

import argparse
import asyncio
import json
from pathlib import Path

import structlog
from aiohttp import web

from mortard.heartland_contract.dialect import DEFAULT_DIALECT, Dialect
from mortard.ops import eventloop
from mortard.sandbox.app import create_app
from mortard.sandbox.fixture import FixtureError

log = structlog.get_logger("mortard.sandbox")


async def serve(host: str = "127.0.0.1", port: int = 8089, fixture_path: Path | str | None = None,
                dialect: Dialect = DEFAULT_DIALECT, *, faults: dict | None = None,
                ready: asyncio.Event | None = None) -> None:
    """Serve until cancelled. `fixture_path=None` uses the bundled default fixture."""
    app = create_app(Path(fixture_path) if fixture_path else None, dialect=dialect, faults=faults)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port)
        await site.start()
        log.info("sandbox_started", host=host, port=port, fixture=str(fixture_path or "default"))
        if ready is not None:
            ready.set()
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="mortard sandbox",
                                     description="Run the in-memory Heartland Retail API sandbox.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8089)
    parser.add_argument("--fixture", type=Path, default=None, help="fixture JSON (default: bundled)")
    parser.add_argument("--dialect", default=None,
                        help='JSON object of Dialect overrides, e.g. \'{"status_cancelled": "cancelled"}\'')
    parser.add_argument("--loop", default="auto", choices=eventloop.CHOICES,
                        help="event loop: uvloop when installed (auto), or force one")
    parser.add_argument("--faults", default=None,
                        help='JSON fault config, e.g. \'{"global": {"rate_limit_rps": 5}}\'')
    args = parser.parse_args(argv)
    try:
        dialect = DEFAULT_DIALECT.with_overrides(json.loads(args.dialect)) if args.dialect else DEFAULT_DIALECT
        faults = json.loads(args.faults) if args.faults else None
        eventloop.run(serve(args.host, args.port, args.fixture, dialect, faults=faults), args.loop)
    except (FixtureError, ValueError) as err:
        print(f"mortard sandbox: {err}")
        return 1
    except KeyboardInterrupt:
        return 0
    return 0
