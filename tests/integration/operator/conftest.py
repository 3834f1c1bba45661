"""Operator-command fixtures: a config file for `mortard --config`, a sandbox on a real port, and a
way to run `mortard.cli.main` the way a shell does (its own event loop, in a thread) and read what it
printed."""
from __future__ import annotations

import argparse
import asyncio
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest

import mortard.cli
from kafka_helpers import create_topic
from mortard.config import Config, config_from_dict
from stack import SHOP, SHOP2, TOKENS


@pytest.fixture
async def sandbox(sandbox_url: str, http: aiohttp.ClientSession) -> str:
    """The session's sandbox, reset to its fixture for this test."""
    async with http.post(f"{sandbox_url}/_sandbox/reset") as r:
        r.raise_for_status()
    return sandbox_url


def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v)
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{ " + ", ".join(f"{json.dumps(k)} = {_toml_value(x)}" for k, x in v.items()) + " }"
    raise TypeError(type(v))


def to_toml(data: dict[str, Any], prefix: str = "") -> str:
    """Enough TOML for a config: nested tables become [a."b".c] headers."""
    scalars = {k: v for k, v in data.items() if not isinstance(v, dict) or not v or prefix.endswith("settings")}
    tables = {k: v for k, v in data.items() if k not in scalars}
    out = []
    if prefix and scalars:
        out.append(f"[{prefix}]")
    out += [f"{json.dumps(k)} = {_toml_value(v)}" for k, v in scalars.items()]
    for k, v in tables.items():
        out.append(to_toml(v, f"{prefix}.{json.dumps(k)}" if prefix else json.dumps(k)))
    return "\n".join(out) + "\n"


@dataclass
class Ops:
    """A written config file and the Config it loads as; `run()` is `mortard ... --config FILE`."""

    path: Path
    config: Config
    capsys: Any

    async def run(self, *argv: str) -> tuple[int, str, str]:
        self.capsys.readouterr()
        code = await asyncio.to_thread(mortard.cli.main, [*argv, "--config", str(self.path)])
        out, err = self.capsys.readouterr()
        return code, out, err

    async def json(self, *argv: str) -> Any:
        code, out, err = await self.run(*argv, "--json")
        assert code == 0, (code, out, err)
        return json.loads(out)


@pytest.fixture
async def make_ops(db_url: str, kafka_bootstrap: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                   capsys: pytest.CaptureFixture[str]) -> Callable[..., Any]:
    for name, value in TOKENS.items():
        monkeypatch.setenv(name, value)

    async def factory(sandbox_url: str = "http://127.0.0.1:9/", shop_settings: dict[str, Any] | None = None,
                      topic: str | None = None) -> Ops:
        topic = topic or f"orders-{uuid.uuid4().hex[:10]}"
        await create_topic(kafka_bootstrap, topic, partitions=2)
        data = {
            "database": {"url": db_url, "min_pool": 1, "max_pool": 2},
            "kafka": {"bootstrap": kafka_bootstrap, "topic": topic, "dead_letter_topic": topic + ".dead"},
            "heartland": {"accounts": {
                "acme": {"token_env": "ACME_TOKEN", "base_url": f"{sandbox_url.rstrip('/')}/acme/api/",
                         "rate_per_second": 500.0, "burst": 100},
                "globex": {"token_env": "GLOBEX_TOKEN", "base_url": f"{sandbox_url.rstrip('/')}/globex/api/"}}},
            "shops": {SHOP: {"heartland_account": "acme", "settings": shop_settings or {}},
                      SHOP2: {"heartland_account": "globex"}},
        }
        path = tmp_path / "mortard.toml"
        path.write_text(to_toml(data))
        return Ops(path, config_from_dict(data, env=TOKENS), capsys)

    return factory


@pytest.fixture
def operator_flags(monkeypatch: pytest.MonkeyPatch) -> None:
    """`dlq replay --force` and `shops add --account`, until cli.py declares them itself (see the
    operator report): adds them to the parser only when missing, so it is a no-op afterwards."""
    original = mortard.cli.build_parser

    def build() -> argparse.ArgumentParser:
        parser = original()
        commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices

        def verb(noun: str, name: str) -> argparse.ArgumentParser:
            sub = next(a for a in commands[noun]._actions if isinstance(a, argparse._SubParsersAction))
            return sub.choices[name]

        replay = verb("dlq", "replay")
        if not any("--force" in a.option_strings for a in replay._actions):
            replay.add_argument("--force", action="store_true", help="replay even if already replayed")
        add = verb("shops", "add")
        if not any("--account" in a.option_strings for a in add._actions):
            add.add_argument("--account", default=None, help="the shop's Heartland account (from the config)")
        return parser

    monkeypatch.setattr(mortard.cli, "build_parser", build)
