"""The operator's commands (`mortard orders|dlq|shops ...`), called by `mortard.cli`.

Each is `async def <noun>_<verb>(cfg, args) -> int`: it prints a readable table (or, with `--json`,
one JSON document) on stdout and returns the exit code; a failure the user can fix raises
`mortard.cli.UserError`. Logs go to stderr at ERROR (or `--log-level` where the parser has one):
the commands report their own failures, and stdout carries only their output, so `--json` parses.
"""
from __future__ import annotations

import argparse
import contextlib
import functools
import logging
import sys
from collections.abc import Awaitable, Callable, Iterator
from typing import IO

import structlog

from mortard.config import Config
from mortard.operator import dlq as _dlq
from mortard.operator import order_actions as _actions
from mortard.operator import orders as _orders
from mortard.operator import shops as _shops
from mortard.operator import shopify as _shopify

# The libraries whose levels `configure_logging` sets (mortard.ops.logging._NOISY_LIBRARIES).
_LIBRARIES = ("aiokafka", "aiohttp", "asyncio", "asyncpg", "kafka")

Command = Callable[[Config, argparse.Namespace], Awaitable[int]]


class _Stderr:
    """Whatever `sys.stderr` is at the time of writing (so a replaced stderr is honoured)."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()

    def isatty(self) -> bool:
        try:
            return sys.stderr.isatty()
        except (AttributeError, ValueError):
            return False


def _command(fn: Command) -> Command:
    @functools.wraps(fn)
    async def run(cfg: Config, args: argparse.Namespace) -> int:
        with _logs_to_stderr(getattr(args, "log_level", None) or "error"):
            return await fn(cfg, args)
    return run


@contextlib.contextmanager
def _logs_to_stderr(level: str) -> Iterator[None]:
    """Logging for one command, then back as it was (the commands also run inside test processes:
    nothing is cached against this configuration, and the previous one is restored)."""
    from mortard.ops import configure_logging
    saved = structlog.get_config()
    root = logging.getLogger()
    saved_root = (list(root.handlers), root.level)
    saved_levels = {name: logging.getLogger(name).level for name in _LIBRARIES}
    stream: IO[str] = _Stderr()  # type: ignore[assignment]
    configure_logging(json=False, level=level, stream=stream)
    structlog.configure(cache_logger_on_first_use=False)
    try:
        yield
    finally:
        structlog.configure(**saved)
        root.handlers[:] = saved_root[0]
        root.setLevel(saved_root[1])
        for name, lvl in saved_levels.items():
            logging.getLogger(name).setLevel(lvl)


orders_list = _command(_orders.orders_list)
orders_show = _command(_orders.orders_show)
orders_retry = _command(_actions.orders_retry)
orders_resolve = _command(_actions.orders_resolve)
orders_plan = _command(_orders.orders_plan)
dlq_list = _command(_dlq.dlq_list)
dlq_replay = _command(_dlq.dlq_replay)
dlq_show = _command(_dlq.dlq_show)
shops_show = _command(_shops.shops_show)
shops_set = _command(_shops.shops_set)
shops_add = _command(_shops.shops_add)
orders_resync = _command(_shopify.orders_resync)
shops_webhooks = _command(_shopify.shops_webhooks)

__all__ = ["orders_list", "orders_show", "orders_retry", "orders_resolve", "orders_plan", "dlq_list", "dlq_replay",
           "dlq_show",
           "shops_show", "shops_set", "shops_add", "orders_resync", "shops_webhooks"]
