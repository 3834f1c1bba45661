"""structlog setup: JSON lines in production, a readable console on a terminal, secrets redacted.

Call `configure_logging()` once at start-up, before the first `structlog.get_logger()` call is used
(loggers are cached on first use). Bind per-order context with `bind_order(...)` inside each order task:
asyncio copies the context when a task is created, so bindings never leak between orders.

Standard-library loggers (aiokafka, aiohttp, asyncio) go through the same renderer, at WARNING and above.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Mapping
from contextlib import AbstractContextManager
from typing import IO, Any

import structlog
from structlog.typing import EventDict, Processor, WrappedLogger

REDACTED = "[redacted]"

#: A key whose lower-cased name contains one of these is redacted, whatever its value.
_SECRET_KEY_PARTS: tuple[str, ...] = (
    "token",
    "secret",
    "password",
    "passwd",
    "authorization",
    "hmac",
    "api_key",
    "apikey",
    "credential",
)
_MAX_DEPTH = 4
_STDLIB_LEVEL = logging.WARNING
_NOISY_LIBRARIES = ("aiokafka", "aiohttp", "asyncio", "asyncpg", "kafka")


def _is_secret_key(key: object) -> bool:
    if not isinstance(key, str):
        return False
    k = key.lower()
    return any(part in k for part in _SECRET_KEY_PARTS)


def _is_secret_value(value: object) -> bool:
    # Duck-typed so this module never imports mortard.config.
    return type(value).__name__ == "Secret" or getattr(value, "__mortard_secret__", False) is True


def _redact(value: Any, depth: int) -> Any:
    if _is_secret_value(value):
        return REDACTED
    if depth >= _MAX_DEPTH:
        return value
    if isinstance(value, Mapping):
        return {k: REDACTED if _is_secret_key(k) else _redact(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list):
        return [_redact(v, depth + 1) for v in value]
    if isinstance(value, tuple):
        return tuple(_redact(v, depth + 1) for v in value)
    return value


def redact_secrets(_logger: WrappedLogger, _method: str, event_dict: EventDict) -> EventDict:
    """structlog processor: blank secret-looking keys and `Secret` values, also inside dicts and lists."""
    for key, value in event_dict.items():
        if key == "event":
            continue
        if _is_secret_key(key):
            event_dict[key] = REDACTED
        else:
            event_dict[key] = _redact(value, 0)
    return event_dict


def _shared_processors(*extra: Processor) -> list[Processor]:
    return [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        *extra,
        redact_secrets,  # last, so it sees every key the chain added
    ]


def _renderer(json: bool) -> Processor:
    if json:
        return structlog.processors.JSONRenderer(default=repr)
    return structlog.dev.ConsoleRenderer()


def configure_logging(
    *,
    json: bool | None = None,
    level: str = "info",
    stream: IO[str] | None = None,
) -> None:
    """Configure structlog and route stdlib logging through it.

    `json=None` picks JSON when `stream` (default stdout) is not a TTY. `level` is a level name
    (`debug`, `info`, `warning`, `error`); calls below it cost well under a microsecond.
    """
    out = stream if stream is not None else sys.stdout
    if json is None:
        json = not _isatty(out)
    numeric_level = logging.getLevelNamesMapping()[level.upper()]

    shared = _shared_processors()
    tail: list[Processor] = [structlog.processors.StackInfoRenderer()]
    if json:
        tail += [structlog.processors.format_exc_info]
    structlog.configure(
        processors=[*shared, *tail, _renderer(json)],
        wrapper_class=structlog.make_filtering_bound_logger(numeric_level),
        context_class=dict,
        logger_factory=structlog.PrintLoggerFactory(out),
        cache_logger_on_first_use=True,
    )
    _route_stdlib(out, json, max(numeric_level, _STDLIB_LEVEL))


class _StructlogHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Marker type so a second `configure_logging` replaces, not stacks, our handler."""


def _route_stdlib(out: IO[str], json: bool, level: int) -> None:
    pre_chain = _shared_processors(structlog.stdlib.add_logger_name, structlog.stdlib.ExtraAdder())
    if json:
        pre_chain.append(structlog.processors.format_exc_info)
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=pre_chain,
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, _renderer(json)],
    )
    handler = _StructlogHandler(out)
    handler.setFormatter(formatter)
    handler.setLevel(level)

    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h, _StructlogHandler)]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    for name in _NOISY_LIBRARIES:
        logging.getLogger(name).setLevel(level)


def _isatty(stream: IO[str]) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # closed or not a real file
        return False


def bind_order(shop: str, order_id: int | str, order_name: str | None = None) -> AbstractContextManager[None]:
    """Bind `shop`, `order_id` (and `order_name`) to every log line inside the `with` block."""
    fields: dict[str, Any] = {"shop": shop, "order_id": order_id}
    if order_name is not None:
        fields["order_name"] = order_name
    return structlog.contextvars.bound_contextvars(**fields)

