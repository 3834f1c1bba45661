"""The Heartland API routes (docs/heartland-contract.md), each registered under `/{account}/api`
and `/api` (account from the Host header). Handlers are thin: parse, call `sales`/`records`, render.
"""
from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from mortard.sandbox import documented, records, render, sales
from mortard.sandbox.errors import ApiError, bad_request, not_found
from mortard.sandbox.filters import filter_rows, paginate, pinned, prefilter, select
from mortard.sandbox.jsonio import dumps, loads
from mortard.sandbox.state import Account
from mortard.sandbox.values import require_object

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
ACCOUNT_KEY = "mortard.sandbox.account"  # request key: the Account the middleware resolved
_FAST_FIELDS = ("id", "public_id", "status", "order_id", "customer_id", "email", "phone")
_QTY_FIELDS = ("qty", "qty_on_hand", "qty_committed", "qty_available")


# helpers ------------------------------------------------------------------------------------------
def _account(request: web.Request) -> Account:
    account: Account = request[ACCOUNT_KEY]
    return account


def _ok(data: Any, status: int = 200) -> web.Response:
    return web.Response(status=status, text=dumps(data), content_type="application/json")


def _one(request: web.Request, kind: str, record: dict[str, Any]) -> web.Response:
    """One record, showing only what the API doc documents for its kind (`documented.py`)."""
    return _ok(documented.shown(kind, record, _account(request).dialect))


def _created(request: web.Request, ident: int) -> web.Response:
    location = request.url.with_query(None).with_path(f"{request.path.rstrip('/')}/{ident}")
    return web.Response(status=201, headers={"Location": str(location)})


async def _body(request: web.Request) -> dict[str, Any]:
    raw = await request.read()
    if not raw.strip():
        return {}
    try:
        return require_object(loads(raw))
    except ValueError as err:
        raise bad_request(f"request body is not valid JSON: {err}") from None


def _includes(request: web.Request) -> set[str]:
    return set(request.query.getall("_include[]", []))


def _id(request: web.Request, key: str = "id") -> int:
    return int(request.match_info[key])


def _get(table: dict[int, Any], ident: int, what: str) -> Any:
    if ident not in table:
        raise not_found(what, ident)
    return table[ident]


def _list(request: web.Request, kind: str, objects: Any, rendered: Callable[[Any], dict[str, Any]]) -> web.Response:
    """`objects`: a `Table` (narrowed through its index where the query allows) or any iterable.
    Records are cut down to their documented fields before filtering (`documented.py`)."""
    dialect = _account(request).dialect
    candidates = prefilter(objects, request.query, _FAST_FIELDS)
    return _ok(select([documented.shown(kind, rendered(o), dialect) for o in candidates], request.query))


# locations, items, inventory ----------------------------------------------------------------------
async def list_locations(request: web.Request) -> web.Response:
    stations = "stations" in _includes(request)
    return _list(request, "location", _account(request).locations,
                 lambda loc: render.location(loc, stations=stations))


async def get_location(request: web.Request) -> web.Response:
    loc = _get(_account(request).locations, _id(request), "location")
    return _one(request, "location", render.location(loc, stations="stations" in _includes(request)))


async def list_stations(request: web.Request) -> web.Response:
    return _list(request, "station", _account(request).stations.values(), render.station)


async def list_items(request: web.Request) -> web.Response:
    return _list(request, "item", _account(request).items, render.item)


async def get_item(request: web.Request) -> web.Response:
    return _one(request, "item", render.item(_get(_account(request).items, _id(request), "item")))


async def inventory_values(request: web.Request) -> web.Response:
    group = request.query.getall("group[]", []) or ["item_id", "location_id"]
    if not set(group) <= {"item_id", "location_id"}:
        raise bad_request("group[] may be item_id and/or location_id")
    rows = filter_rows(_inventory_scope(_account(request), request.query), request.query)
    sums: dict[tuple[Any, ...], dict[str, Any]] = {}
    for row in rows:
        key = tuple(row[g] for g in group)
        acc = sums.setdefault(key, {**{g: row[g] for g in group}, **dict.fromkeys(_QTY_FIELDS, 0)})
        for f in _QTY_FIELDS:
            acc[f] += row[f]
    out = list(sums.values())
    if request.query.get("exclude_empty_locations") == "true":
        out = [r for r in out if r["qty_on_hand"] or r["qty_committed"]]
    return _ok(paginate(out, request.query))


def _inventory_scope(account: Account, query: Any) -> list[dict[str, Any]]:
    """Inventory rows for just the items and locations the query pins down (the daemon asks for a
    few `item_id`s); `filter_rows` still applies the whole query to them."""
    pins = pinned(query, ("item_id", "location_id"))
    items = account.items.lookup("id", pins["item_id"]) if "item_id" in pins else None
    locations = account.locations.lookup("id", pins["location_id"]) if "location_id" in pins else None
    return account.inventory_rows(items, locations)


# customers, addresses, payment types, custom fields -----------------------------------------------
async def list_customers(request: web.Request) -> web.Response:
    return _list(request, "customer", _account(request).customers, render.customer)


async def create_customer(request: web.Request) -> web.Response:
    return _created(request, records.create_customer(_account(request), await _body(request)).id)


async def get_customer(request: web.Request) -> web.Response:
    return _one(request, "customer", render.customer(_get(_account(request).customers, _id(request), "customer")))


async def update_customer(request: web.Request) -> web.Response:
    account = _account(request)
    customer = _get(account.customers, _id(request), "customer")
    records.update_customer(account, customer, await _body(request))
    return _one(request, "customer", render.customer(customer))


async def list_addresses(request: web.Request) -> web.Response:
    account = _account(request)
    customer = _get(account.customers, _id(request), "customer")
    mine = [a for a in account.addresses.lookup("customer_id", [customer.id])
            if a.customer_id == customer.id]
    return _list(request, "address", mine, render.address)


async def create_address(request: web.Request) -> web.Response:
    account = _account(request)
    customer = _get(account.customers, _id(request), "customer")
    return _created(request, records.create_address(account, customer, await _body(request)).id)


async def get_address(request: web.Request) -> web.Response:
    address = _get(_account(request).addresses, _id(request, "address_id"), "address")
    if address.customer_id != _id(request):
        raise not_found("address", address.id)
    return _one(request, "address", render.address(address))


async def list_payment_types(request: web.Request) -> web.Response:
    return _list(request, "payment_type", _account(request).payment_types.values(), render.payment_type)


async def create_payment_type(request: web.Request) -> web.Response:
    return _created(request, records.create_payment_type(_account(request), await _body(request)).id)


async def get_payment_type(request: web.Request) -> web.Response:
    return _one(request, "payment_type", render.payment_type(_get(_account(request).payment_types, _id(request), "payment type")))


async def list_custom_fields(request: web.Request) -> web.Response:
    return _list(request, "custom_field", _account(request).custom_fields.values(), render.custom_field)


async def get_custom_field(request: web.Request) -> web.Response:
    return _one(request, "custom_field", render.custom_field(_get(_account(request).custom_fields, _id(request), "custom field")))


async def update_custom_field(request: web.Request) -> web.Response:
    account = _account(request)
    field = _get(account.custom_fields, _id(request), "custom field")
    records.update_custom_field(account, field, await _body(request))
    return _one(request, "custom_field", render.custom_field(field))


# sales orders -------------------------------------------------------------------------------------
def _order(request: web.Request) -> Any:
    return _get(_account(request).orders, _id(request), "sales order")


async def list_orders(request: web.Request) -> web.Response:
    lines = "lines" in _includes(request)
    return _list(request, "order", _account(request).orders, lambda o: render.order(o, lines=lines))


async def create_order(request: web.Request) -> web.Response:
    return _created(request, sales.create_order(_account(request), await _body(request)).id)


async def get_order(request: web.Request) -> web.Response:
    return _one(request, "order", render.order(_order(request), lines="lines" in _includes(request)))


async def update_order(request: web.Request) -> web.Response:
    order = _order(request)
    sales.update_order(_account(request), order, await _body(request))
    return _one(request, "order", render.order(order, lines="lines" in _includes(request)))


async def list_order_lines(request: web.Request) -> web.Response:
    return _list(request, "order_line", _order(request).lines.values(), render.order_line)


async def create_order_line(request: web.Request) -> web.Response:
    line = sales.add_line(_account(request), _order(request), await _body(request))
    return _created(request, line.id)


def _line(request: web.Request) -> tuple[Any, Any]:
    order = _order(request)
    return order, _get(order.lines, _id(request, "line_id"), "order line")


async def get_order_line(request: web.Request) -> web.Response:
    return _one(request, "order_line", render.order_line(_line(request)[1]))


async def update_order_line(request: web.Request) -> web.Response:
    order, line = _line(request)
    sales.update_line(_account(request), order, line, await _body(request))
    return _one(request, "order_line", render.order_line(line))


async def delete_order_line(request: web.Request) -> web.Response:
    account = _account(request)
    if not account.dialect.line_delete_supported:
        raise ApiError(404, "not_found", "deleting order lines is not supported")
    order, line = _line(request)
    sales.delete_line(account, order, line)
    return web.Response(status=204)


_ORDER_PARTS: dict[str, tuple[Callable[..., Any], Callable[[Any], dict[str, Any]], str]] = {
    "taxes": (sales.add_tax, render.tax, "tax"),
    "discounts": (sales.add_discount, render.discount, "discount"),
    "payments": (sales.add_payment, render.payment, "payment"),
}


def _order_part_routes(part: str) -> list[tuple[str, str, Handler]]:
    add, rendered, kind = _ORDER_PARTS[part]

    async def list_part(request: web.Request) -> web.Response:
        if part == "discounts" and not _account(request).dialect.order_discounts_listed:
            # heartland-api.md §2 shows only the POST; the GET is Dialect.order_discounts_listed.
            raise ApiError(404, "not_found", "listing an order's discounts is not documented")
        return _list(request, kind, getattr(_order(request), part), rendered)

    async def create_part(request: web.Request) -> web.Response:
        return _created(request, add(_account(request), _order(request), await _body(request)).id)

    return [("GET", rf"/sales/orders/{{id:\d+}}/{part}", list_part),
            ("POST", rf"/sales/orders/{{id:\d+}}/{part}", create_part)]


# invoices -----------------------------------------------------------------------------------------
def _invoice(request: web.Request) -> Any:
    return _get(_account(request).invoices, _id(request), "invoice")


async def list_invoices(request: web.Request) -> web.Response:
    account, lines = _account(request), "lines" in _includes(request)
    return _list(request, "invoice", account.invoices, lambda i: render.invoice(i, account, lines=lines))


async def create_invoice(request: web.Request) -> web.Response:
    return _created(request, sales.create_invoice(_account(request), await _body(request)).id)


async def get_invoice(request: web.Request) -> web.Response:
    lines = "lines" in _includes(request)
    return _one(request, "invoice", render.invoice(_invoice(request), _account(request), lines=lines))


async def update_invoice(request: web.Request) -> web.Response:
    account, invoice = _account(request), _invoice(request)
    sales.update_invoice(account, invoice, await _body(request))
    return _one(request, "invoice", render.invoice(invoice, account, lines="lines" in _includes(request)))


async def list_invoice_lines(request: web.Request) -> web.Response:
    return _list(request, "invoice_line", _invoice(request).lines, render.invoice_line)


async def create_invoice_line(request: web.Request) -> web.Response:
    line = sales.add_invoice_line(_account(request), _invoice(request), await _body(request))
    return _created(request, line.id)


# tickets ------------------------------------------------------------------------------------------
def _ticket(request: web.Request) -> Any:
    return _get(_account(request).tickets, _id(request), "ticket")


async def list_tickets(request: web.Request) -> web.Response:
    account, lines = _account(request), "lines" in _includes(request)
    return _list(request, "ticket", account.tickets, lambda t: render.ticket(t, account, lines=lines))


async def create_ticket(request: web.Request) -> web.Response:
    return _created(request, sales.create_ticket(_account(request), await _body(request)).id)


async def get_ticket(request: web.Request) -> web.Response:
    lines = "lines" in _includes(request)
    return _one(request, "ticket", render.ticket(_ticket(request), _account(request), lines=lines))


async def list_ticket_lines(request: web.Request) -> web.Response:
    return _list(request, "ticket_line", _ticket(request).lines, render.ticket_line)


async def list_ticket_payments(request: web.Request) -> web.Response:
    return _list(request, "ticket_payment", _ticket(request).payments, render.ticket_payment)


# routing ------------------------------------------------------------------------------------------
_ROUTES: tuple[tuple[str, str, Handler], ...] = (
    ("GET", "/locations", list_locations),
    ("GET", r"/locations/{id:\d+}", get_location),
    ("GET", "/stations", list_stations),
    ("GET", "/items", list_items),
    ("GET", r"/items/{id:\d+}", get_item),
    ("GET", "/inventory/values", inventory_values),
    ("GET", "/customers", list_customers),
    ("POST", "/customers", create_customer),
    ("GET", r"/customers/{id:\d+}", get_customer),
    ("PUT", r"/customers/{id:\d+}", update_customer),
    ("GET", r"/customers/{id:\d+}/addresses", list_addresses),
    ("POST", r"/customers/{id:\d+}/addresses", create_address),
    ("GET", r"/customers/{id:\d+}/addresses/{address_id:\d+}", get_address),
    ("GET", "/payment_types", list_payment_types),
    ("POST", "/payment_types", create_payment_type),
    ("GET", r"/payment_types/{id:\d+}", get_payment_type),
    ("GET", "/custom_fields", list_custom_fields),
    ("GET", r"/custom_fields/{id:\d+}", get_custom_field),
    ("PUT", r"/custom_fields/{id:\d+}", update_custom_field),
    ("GET", "/sales/orders", list_orders),
    ("POST", "/sales/orders", create_order),
    ("GET", r"/sales/orders/{id:\d+}", get_order),
    ("PUT", r"/sales/orders/{id:\d+}", update_order),
    ("GET", r"/sales/orders/{id:\d+}/lines", list_order_lines),
    ("POST", r"/sales/orders/{id:\d+}/lines", create_order_line),
    ("GET", r"/sales/orders/{id:\d+}/lines/{line_id:\d+}", get_order_line),
    ("PUT", r"/sales/orders/{id:\d+}/lines/{line_id:\d+}", update_order_line),
    ("DELETE", r"/sales/orders/{id:\d+}/lines/{line_id:\d+}", delete_order_line),
    ("GET", "/sales/invoices", list_invoices),
    ("POST", "/sales/invoices", create_invoice),
    ("GET", r"/sales/invoices/{id:\d+}", get_invoice),
    ("PUT", r"/sales/invoices/{id:\d+}", update_invoice),
    ("GET", r"/sales/invoices/{id:\d+}/lines", list_invoice_lines),
    ("POST", r"/sales/invoices/{id:\d+}/lines", create_invoice_line),
    ("GET", "/sales/tickets", list_tickets),
    ("POST", "/sales/tickets", create_ticket),
    ("GET", r"/sales/tickets/{id:\d+}", get_ticket),
    ("GET", r"/sales/tickets/{id:\d+}/lines", list_ticket_lines),
    ("GET", r"/sales/tickets/{id:\d+}/payments", list_ticket_payments),
)


def add_routes(app: web.Application) -> None:
    """Register every API route under `/{account}/api` and under `/api` (account from Host)."""
    routes = list(_ROUTES)
    for part in _ORDER_PARTS:
        routes += _order_part_routes(part)
    for prefix in ("/{account}/api", "/api"):
        for method, path, handler in routes:
            app.router.add_route(method, prefix + path, handler)
