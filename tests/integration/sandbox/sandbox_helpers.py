"""Raw-HTTP helpers for the sandbox tests (kept out of conftest so tests can import them)."""
from __future__ import annotations

import json
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import aiohttp
from aiohttp import web


@dataclass
class Reply:
    status: int
    headers: Any
    text: str

    @property
    def json(self) -> Any:
        return json.loads(self.text, parse_float=Decimal)


class Api:
    """Raw HTTP against one account (path-prefix addressing unless `base` says otherwise)."""

    def __init__(self, http: aiohttp.ClientSession, base: str, token: str | None) -> None:
        self.http, self.base, self.token = http, base, token

    async def call(self, method: str, path: str, body: Any = None, *, params: Any = None,
                   headers: dict[str, str] | None = None, raw: str | None = None) -> Reply:
        hdrs = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        hdrs.update(headers or {})
        data = raw if raw is not None else (None if body is None else _dumps(body))
        if data is not None:
            hdrs["Content-Type"] = "application/json"
        async with self.http.request(method, self.base + path, data=data, params=params,
                                     headers=hdrs) as resp:
            return Reply(resp.status, resp.headers, await resp.text())

    async def get(self, path: str, **params: Any) -> Any:
        reply = await self.call("GET", path, params=_params(params))
        assert reply.status == 200, reply.text
        return reply.json

    async def create(self, path: str, body: Any) -> int:
        reply = await self.call("POST", path, body)
        assert reply.status == 201, reply.text
        assert reply.text == ""
        return int(reply.headers["Location"].rstrip("/").rsplit("/", 1)[1])

    async def put(self, path: str, body: Any) -> Any:
        reply = await self.call("PUT", path, body)
        assert reply.status == 200, reply.text
        return reply.json


def _params(params: dict[str, Any]) -> list[tuple[str, str]]:
    out = []
    for key, value in params.items():
        for v in value if isinstance(value, list) else [value]:
            out.append((key, v if isinstance(v, str) else _dumps(v)))
    return out


def _dumps(value: Any) -> str:
    return json.dumps(value, default=lambda d: float(d) if isinstance(d, Decimal) else str(d))


class Sandbox:
    """A running sandbox: control calls plus an `Api` per account."""

    def __init__(self, http: aiohttp.ClientSession, root: str, app: web.Application) -> None:
        self.http, self.root, self.app = http, root, app

    def api(self, account: str = "acme", token: str | None = "default") -> Api:
        if token == "default":
            token = f"sandbox-token-{account}"
        return Api(self.http, f"{self.root}/{account}/api", token)

    async def control(self, method: str, path: str, body: Any = None) -> Any:
        async with self.http.request(method, f"{self.root}/_sandbox/{path}",
                                     data=None if body is None else _dumps(body)) as resp:
            text = await resp.text()
            assert resp.status == 200, text
            return json.loads(text, parse_float=Decimal)

    async def stock(self, account: str, item: str, location: str) -> dict[str, int]:
        state = await self.control("GET", f"state?account={account}")
        for row in state["accounts"][account]["inventory"]:
            if row["item"] == item and row["location"] == location:
                return {k: row[k] for k in ("qty_on_hand", "qty_committed", "qty_available")}
        raise AssertionError(f"no inventory row {item}@{location}")


async def start(app: web.Application) -> tuple[web.AppRunner, str]:
    runner = web.AppRunner(app, shutdown_timeout=1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    return runner, f"http://127.0.0.1:{port}"
