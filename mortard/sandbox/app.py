"""The sandbox application: one `Sandbox` (state, faults, counters) behind an aiohttp app.

Requests to `/_sandbox/...` are control calls. Everything else is an API call for an account named
by the path prefix (`/acme/api/...`) or the Host header's first label (`acme.localhost/api/...`); it
is authenticated, counted, put through the fault plan and then routed to `api.py`.
"""
from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from aiohttp import web

from mortard.heartland_contract.dialect import DEFAULT_DIALECT, Dialect
from mortard.sandbox import api, control
from mortard.sandbox.errors import ApiError
from mortard.sandbox.fixture import load_fixture
from mortard.sandbox.jsonio import dumps
from mortard.sandbox.runtime import SANDBOX, Sandbox
from mortard.sandbox.state import Account

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def create_app(fixture: dict[str, Any] | Path | str | None = None, *,
               dialect: Dialect = DEFAULT_DIALECT,
               faults: dict[str, Any] | None = None) -> web.Application:
    """The sandbox as an aiohttp app. `fixture`: dict, path, or None for the bundled default.

    `faults` has the shape of `PUT /_sandbox/faults` (`{seed, global, accounts}`) and is applied on
    top of the fixture's faults, also after every reset.
    """
    sandbox = Sandbox(load_fixture(fixture), dialect, faults)
    app = web.Application(middlewares=[_middleware])
    app[SANDBOX] = sandbox
    control.add_routes(app)
    api.add_routes(app)
    return app


def error_response(err: ApiError, dialect: Dialect, headers: dict[str, str] | None = None) -> web.Response:
    status = err.status if err.status is not None else dialect.validation_http_status
    return web.Response(status=status, text=dumps(err.body()), content_type="application/json",
                        headers=headers)


def _account_name(request: web.Request) -> str | None:
    parts = request.path.split("/")
    if len(parts) > 1 and parts[1] == "api":
        return (request.host or "").split(":")[0].split(".")[0] or None
    if len(parts) > 2 and parts[2] == "api":
        return parts[1]
    return None


def _route(request: web.Request) -> str:
    resource = request.match_info.route.resource
    template = resource.canonical if resource is not None else "unmatched"
    return f"{request.method} {template.removeprefix('/{account}')}"


@web.middleware
async def _middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    sandbox = request.app[SANDBOX]
    if request.path.startswith("/_sandbox/"):
        return await _run(request, handler, sandbox.dialect)
    name = _account_name(request)
    account = sandbox.accounts.get(name or "")
    if name is None or account is None:
        return error_response(ApiError(404, "not_found", f"no account {name!r}"), sandbox.dialect)
    route = _route(request)
    status = 500
    try:
        response = await _api_call(request, handler, sandbox, account, route)
        status = response.status
        return response
    finally:
        sandbox.count(name, route, status)


async def _api_call(request: web.Request, handler: Handler, sandbox: Sandbox, account: Account,
                    route: str) -> web.StreamResponse:
    if request.headers.get("Authorization", "") != f"Bearer {account.token}":
        return error_response(ApiError(401, "unauthorized", "missing or wrong bearer token"),
                              sandbox.dialect)
    method, _, template = route.partition(" ")
    decision = sandbox.faults.decide(account.name, method, template)
    injected = sandbox.injected[account.name]
    if decision.retry_after is not None:
        injected["rate_limited"] += 1
        return error_response(ApiError(429, "rate_limited", "too many requests"), sandbox.dialect,
                              headers={"Retry-After": str(decision.retry_after)})
    if decision.delay > 0:
        await asyncio.sleep(decision.delay)
    if decision.error_status is not None:
        injected["errors"] += 1
        return error_response(ApiError(decision.error_status, "server_error", "injected failure"),
                              sandbox.dialect)
    if decision.hold is not None:
        injected["timeouts"] += 1
        await _hold(request, decision.hold)
        return error_response(ApiError(504, "server_error", "injected timeout"), sandbox.dialect)
    request[api.ACCOUNT_KEY] = account
    response = await _run(request, handler, sandbox.dialect)
    if decision.drop and response.status < 400:
        injected["dropped"] += 1
        if request.transport is not None:
            request.transport.abort()  # the reply below goes nowhere; the client sees a reset
    return response


async def _run(request: web.Request, handler: Handler, dialect: Dialect) -> web.StreamResponse:
    try:
        return await handler(request)
    except ApiError as err:
        return error_response(err, dialect)
    except web.HTTPException as exc:
        code = {404: "not_found", 401: "unauthorized", 403: "forbidden"}.get(exc.status, "bad_request")
        return error_response(ApiError(exc.status, code, exc.reason), dialect)


async def _hold(request: web.Request, seconds: float) -> None:
    """Sleep like a hung server, but stop early once the client has gone away."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while loop.time() < deadline:
        transport = request.transport
        if transport is None or transport.is_closing():
            return
        await asyncio.sleep(min(0.05, deadline - loop.time()))
