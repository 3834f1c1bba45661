"""`/_sandbox/` control endpoints: state snapshots, reset, faults, rules, stock. No auth."""
from __future__ import annotations

from dataclasses import asdict
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from aiohttp import web

from mortard.sandbox import render
from mortard.sandbox.errors import ApiError, bad_request, not_found
from mortard.sandbox.jsonio import dumps, loads
from mortard.sandbox.runtime import SANDBOX, Sandbox
from mortard.sandbox.values import integer, require_object

if TYPE_CHECKING:
    from mortard.sandbox.state import Account


def _sandbox(request: web.Request) -> Sandbox:
    return request.app[SANDBOX]


def _ok(data: Any) -> web.Response:
    return web.Response(text=dumps(data), content_type="application/json")


async def _body(request: web.Request) -> Any:
    raw = await request.read()
    if not raw.strip():
        return {}
    try:
        return loads(raw)
    except ValueError as err:
        raise bad_request(f"body is not valid JSON: {err}") from None


def _account(request: web.Request) -> Account:
    name = request.match_info["account"]
    account = _sandbox(request).accounts.get(name)
    if account is None:
        raise not_found("account", name)
    return account


async def health(request: web.Request) -> web.Response:
    return _ok({"status": "ok", "accounts": sorted(_sandbox(request).accounts)})


async def state(request: web.Request) -> web.Response:
    """Everything, per account; `?account=acme` narrows it to one."""
    sandbox = _sandbox(request)
    wanted = request.query.get("account")
    if wanted is not None and wanted not in sandbox.accounts:
        raise not_found("account", wanted)
    return _ok({"accounts": {name: account_snapshot(sandbox, account)
                             for name, account in sandbox.accounts.items()
                             if wanted in (None, name)},
                "faults": sandbox.faults.snapshot(sorted(sandbox.accounts)),
                "dialect": _dialect(sandbox)})


def account_snapshot(sandbox: Sandbox, account: Account) -> dict[str, Any]:
    orders = []
    for order in account.orders.values():
        row = render.order(order, lines=True)
        row.update(taxes=[render.tax(t) for t in order.taxes],
                   discounts=[render.discount(d) for d in order.discounts],
                   payments=[render.payment(p) for p in order.payments],
                   invoice_ids=list(order.invoice_ids))
        orders.append(row)
    tickets = []
    for ticket in account.tickets.values():
        row = render.ticket(ticket, account, lines=True)
        row["payments"] = [render.ticket_payment(p) for p in ticket.payments]
        tickets.append(row)
    return {
        "orders": orders,
        "invoices": [render.invoice(i, account, lines=True) for i in account.invoices.values()],
        "tickets": tickets,
        "customers": [{**render.customer(c), "addresses": [
            render.address(a) for a in account.addresses.lookup("customer_id", [c.id])
            if a.customer_id == c.id]}
            for c in account.customers.values()],
        "payment_types": [render.payment_type(p) for p in account.payment_types.values()],
        "inventory": [{**row, "item": account.items[row["item_id"]].public_id,
                       "location": account.locations[row["location_id"]].public_id}
                      for row in account.inventory_rows()],
        "rules": account.rules.as_dict(),
        "requests": sandbox.request_counts(account.name),
        "faults_injected": dict(sandbox.injected[account.name]),
    }


def _dialect(sandbox: Sandbox) -> dict[str, Any]:
    return asdict(sandbox.dialect)


async def requests(request: web.Request) -> web.Response:
    sandbox = _sandbox(request)
    return _ok({name: {"requests": sandbox.request_counts(name),
                       "total": sum(sum(c.values()) for c in sandbox.requests[name].values()),
                       "faults_injected": dict(sandbox.injected[name])}
                for name in sandbox.accounts})


async def reset(request: web.Request) -> web.Response:
    """Back to the fixture; a body `{"fixture": {...}}` replaces the fixture first."""
    sandbox = _sandbox(request)
    body = require_object(await _body(request))
    fixture = body.get("fixture")
    try:
        sandbox.reset(fixture)
    except ValueError as err:
        raise ApiError(400, "bad_request", str(err)) from None
    return _ok({"status": "reset", "accounts": sorted(sandbox.accounts)})


async def get_faults(request: web.Request) -> web.Response:
    sandbox = _sandbox(request)
    return _ok(sandbox.faults.snapshot(sorted(sandbox.accounts)))


async def put_faults(request: web.Request) -> web.Response:
    """Body `{seed?, global?: {...}, accounts?: {name: {...} | null}}`; fields are merged."""
    sandbox = _sandbox(request)
    body = require_object(await _body(request))
    for name in (body.get("accounts") or {}):
        if name not in sandbox.accounts:
            raise not_found("account", name)
    try:
        sandbox.faults.update(_floats(body))
    except (ValueError, TypeError) as err:
        raise ApiError(400, "bad_request", str(err)) from None
    return _ok(sandbox.faults.snapshot(sorted(sandbox.accounts)))


def _floats(value: Any) -> Any:
    """Fault settings are plain numbers; the JSON parser made Decimals of them."""
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, dict):
        return {k: _floats(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_floats(v) for v in value]
    return value


async def get_rules(request: web.Request) -> web.Response:
    sandbox = _sandbox(request)
    return _ok({name: a.rules.as_dict() for name, a in sandbox.accounts.items()})


async def put_rules(request: web.Request) -> web.Response:
    """Body: rule flags for every account, and/or `accounts: {name: {flags}}`."""
    sandbox = _sandbox(request)
    body = dict(require_object(await _body(request)))
    per_account = body.pop("accounts", None) or {}
    for name in per_account:
        if name not in sandbox.accounts:
            raise not_found("account", name)
    try:
        for account in sandbox.accounts.values():
            probe = type(account.rules)(**account.rules.as_dict())
            probe.update(body)
            probe.update(per_account.get(account.name, {}))
        for account in sandbox.accounts.values():
            account.rules.update(body)
            account.rules.update(per_account.get(account.name, {}))
    except (ValueError, TypeError) as err:
        raise ApiError(400, "bad_request", str(err)) from None
    return _ok({name: a.rules.as_dict() for name, a in sandbox.accounts.items()})


async def put_inventory(request: web.Request) -> web.Response:
    """Set on_hand: `{item|item_id, location|location_id, on_hand}` or a list of those."""
    account = _account(request)
    body = await _body(request)
    entries = body if isinstance(body, list) else [require_object(body)]
    settings = []
    items = {i.public_id: i.id for i in account.items.values()}
    locations = {loc.public_id: loc.id for loc in account.locations.values()}
    for entry in entries:
        entry = require_object(entry)
        item_id = entry.get("item_id", items.get(entry.get("item", "")))
        location_id = entry.get("location_id", locations.get(entry.get("location", "")))
        if item_id not in account.items or location_id not in account.locations:
            raise bad_request(f"unknown item or location in {entry}")
        settings.append(((item_id, location_id), integer(entry, "on_hand")))
    for key, on_hand in settings:
        account.on_hand[key] = on_hand
    wanted = {key for key, _ in settings}
    return _ok({"results": [row for row in account.inventory_rows()
                            if (row["item_id"], row["location_id"]) in wanted]})


async def put_token(request: web.Request) -> web.Response:
    """`{"token": "..."}`: the bearer token the account accepts from now on (a token rotated, or a
    refused one made good: tests of mortard's token check)."""
    account = _account(request)
    body = require_object(await _body(request))
    token = body.get("token")
    if not isinstance(token, str) or not token:
        raise bad_request("`token` must be a non-empty string")
    account.token = token
    return _ok({"account": account.name})


def add_routes(app: web.Application) -> None:
    app.router.add_get("/_sandbox/health", health)
    app.router.add_get("/_sandbox/state", state)
    app.router.add_get("/_sandbox/requests", requests)
    app.router.add_post("/_sandbox/reset", reset)
    app.router.add_get("/_sandbox/faults", get_faults)
    app.router.add_put("/_sandbox/faults", put_faults)
    app.router.add_get("/_sandbox/rules", get_rules)
    app.router.add_put("/_sandbox/rules", put_rules)
    app.router.add_put("/_sandbox/accounts/{account}/inventory", put_inventory)
    app.router.add_put("/_sandbox/accounts/{account}/token", put_token)
