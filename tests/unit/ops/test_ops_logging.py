from __future__ import annotations

import asyncio
import io
import json
import logging
from collections.abc import Iterator

import pytest
import structlog

from mortard.ops.logging import REDACTED, bind_order, configure_logging, redact_secrets


@pytest.fixture
def stream() -> Iterator[io.StringIO]:
    out = io.StringIO()
    yield out
    structlog.reset_defaults()
    structlog.contextvars.clear_contextvars()
    root = logging.getLogger()
    for h in list(root.handlers):
        if type(h).__name__ == "_StructlogHandler":
            root.removeHandler(h)
    root.setLevel(logging.WARNING)


def _lines(out: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in out.getvalue().splitlines() if line.strip()]


class Secret:
    def __init__(self, value: str) -> None:
        self.value = value

    def __repr__(self) -> str:
        return f"Secret({self.value!r})"  # deliberately leaky, to prove the processor hides it


class Flagged:
    __mortard_secret__ = True


def test_json_lines_carry_bound_order_context(stream: io.StringIO) -> None:
    configure_logging(json=True, stream=stream)
    log = structlog.get_logger()
    with bind_order("acme.myshopify.com", 4401, "#1001"):
        log.info("order_invoiced", account="acme")
    log.info("outside")

    inside, outside = _lines(stream)
    assert inside["event"] == "order_invoiced"
    assert inside["shop"] == "acme.myshopify.com"
    assert inside["order_id"] == 4401
    assert inside["order_name"] == "#1001"
    assert inside["level"] == "info"
    assert str(inside["timestamp"]).endswith("Z")
    assert "shop" not in outside and "order_id" not in outside


async def test_bindings_do_not_leak_between_order_tasks(stream: io.StringIO) -> None:
    configure_logging(json=True, stream=stream)
    log = structlog.get_logger()

    async def work(order_id: int) -> None:
        with bind_order("s.myshopify.com", order_id):
            await asyncio.sleep(0.01)
            log.info("step_done", step="create")

    await asyncio.gather(work(1), work(2))
    assert sorted(line["order_id"] for line in _lines(stream)) == [1, 2]


def test_secrets_are_redacted_by_key_and_by_type(stream: io.StringIO) -> None:
    configure_logging(json=True, stream=stream)
    structlog.get_logger().info(
        "config_loaded",
        access_token="shpat_123",
        Authorization="Bearer abc",
        webhook_hmac="deadbeef",
        db_password="hunter2",
        client_secret="cs-4711",
        heartland=Secret("hl-9f8e7d"),
        other=Flagged(),
        nested={"api": {"token": "t"}, "items": [Secret("x"), 1]},
        shop="acme.myshopify.com",
    )
    (line,) = _lines(stream)
    text = json.dumps(line)
    for leaked in ("shpat_123", "Bearer", "deadbeef", "hunter2", "hl-9f8e7d", "Flagged"):
        assert leaked not in text
    assert line["access_token"] == REDACTED
    assert line["heartland"] == REDACTED
    assert line["other"] == REDACTED
    assert line["nested"] == {"api": {"token": REDACTED}, "items": [REDACTED, 1]}
    assert line["shop"] == "acme.myshopify.com"


def test_redact_processor_is_a_plain_function() -> None:
    out = redact_secrets(None, "info", {"event": "token_refreshed", "password": "x", "n": 1})
    assert out == {"event": "token_refreshed", "password": REDACTED, "n": 1}


def test_level_filter_drops_debug(stream: io.StringIO) -> None:
    configure_logging(json=True, level="info", stream=stream)
    log = structlog.get_logger()
    log.debug("noise")
    log.warning("heartland_rate_limited", account="acme")
    assert [line["event"] for line in _lines(stream)] == ["heartland_rate_limited"]


def test_stdlib_loggers_route_through_structlog_at_warning(stream: io.StringIO) -> None:
    configure_logging(json=True, level="debug", stream=stream)
    lib = logging.getLogger("aiokafka.consumer")
    lib.info("heartbeat ok")
    with bind_order("acme.myshopify.com", 7):
        lib.warning("rebalance %s", "started", extra={"password": "p"})
    (line,) = _lines(stream)
    assert line["event"] == "rebalance started"
    assert line["level"] == "warning"
    assert line["logger"] == "aiokafka.consumer"
    assert line["order_id"] == 7
    assert line["password"] == REDACTED


def test_console_renderer_when_not_json(stream: io.StringIO) -> None:
    configure_logging(json=False, stream=stream)
    structlog.get_logger().info("hello", token="abc")
    text = stream.getvalue()
    assert "hello" in text and "abc" not in text
    with pytest.raises(json.JSONDecodeError):
        json.loads(text)


def test_auto_mode_picks_json_for_a_non_tty(stream: io.StringIO) -> None:
    configure_logging(stream=stream)  # StringIO is not a TTY
    structlog.get_logger().info("x")
    assert _lines(stream)[0]["event"] == "x"


def test_reconfiguring_does_not_stack_stdlib_handlers(stream: io.StringIO) -> None:
    configure_logging(json=True, stream=stream)
    configure_logging(json=True, stream=stream)
    logging.getLogger("aiohttp.client").error("boom")
    assert len(_lines(stream)) == 1
