"""The sync core's Heartland port (`mortard.sync.ports.HeartlandPort`) over the HTTP client.

All translation between Heartland's JSON and the core's values lives here: what each mutation sends,
and what each read means. Reads take only the fields `heartland-api.md` documents, plus those a
`Dialect` setting assumes when it is on.
"""
from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Sequence
from decimal import Decimal
from functools import partial
from typing import Any

from mortard.heartland.catalog import AccountCatalog
from mortard.heartland._filter import F, encode_filter
from mortard.heartland.coalesce import Coalescer
from mortard.heartland.client import HeartlandClient
from mortard.heartland_contract.dialect import Dialect
from mortard.sync.actions import (
    Action, AddAddress, AddInvoiceLine, AddLine, AddPayment, AddTax, CompleteInvoice, CreateCustomer,
    CreateInvoice, CreateOrder, CreateTicket, DeleteLine, SetShipping, SetStatus, UpdateLine,
)
from mortard.sync.model import Address, Catalog, HPayment, Item, Mirror
from mortard.sync.ports import (
    FoundCustomer, OrderReading, ReadInvoice, ReadInvoiceLine, ReadLine, ReadTicket,
)
from mortard.sync.watch import HEADER_IDS as _HEADER_CHUNK, OrderHeader

Json = dict[str, Any]


class HeartlandGateway:
    """One Heartland account as the sync core sees it."""

    def __init__(self, client: HeartlandClient, catalog: AccountCatalog | None = None) -> None:
        self.client = client
        self.dialect: Dialect = client.dialect
        self._catalog = catalog or AccountCatalog(client)
        # Orders in flight on the account share their reads of stock and of buyers (coalesce.py).
        self._stock: Coalescer[int, list[tuple[int, int]]] = Coalescer(self._read_stock)
        self._buyers: dict[str, Coalescer[str, list[Json]]] = {
            rule: Coalescer(partial(self._read_buyers, rule)) for rule in ("email", "phone")}

    # -- reads --------------------------------------------------------------------------------
    async def catalog(self, payment_types: Iterable[str]) -> Catalog:
        return await self._catalog.catalog(payment_types)

    async def items(self, skus: Iterable[str], match: str) -> dict[str, Item | None]:
        return await self._catalog.items(skus, match)

    async def stock(self, item_ids: Sequence[int]) -> dict[tuple[int, int], int]:
        if not item_ids:
            return {}
        per_item = await self._stock.get(int(i) for i in item_ids)
        return {(item, loc): qty for item, rows in per_item.items() for loc, qty in rows}

    async def _read_stock(self, item_ids: list[int]) -> dict[int, list[tuple[int, int]]]:
        out: dict[int, list[tuple[int, int]]] = {}
        for r in await self.client.inventory_values(item_ids):
            out.setdefault(int(r["item_id"]), []).append((int(r["location_id"]), int(r.get("qty_available") or 0)))
        return out

    async def _read_buyers(self, rule: str, values: list[str]) -> dict[str, list[Json]]:
        """Customers by e-mail or phone, for each value asked (e-mail compared without case, as a
        search by one e-mail would match it)."""
        wanted: dict[str, list[str]] = {}
        for v in values:
            wanted.setdefault(v.casefold(), []).append(v)
        out: dict[str, list[Json]] = {}
        for c in await self.client.find_customers_in(rule, values):
            for v in wanted.get(str(c.get(rule) or "").casefold(), ()):
                out.setdefault(v, []).append(c)
        return out

    async def find_customer(self, rules: Sequence[str], email: str, phone: str) -> FoundCustomer:
        """The oldest customer matching the first rule that finds one, with their addresses."""
        found: list[Json] = []
        for rule in rules:
            value = email if rule == "email" else phone
            if value:
                found = (await self._buyers[rule].get((value,))).get(value, [])
                if found:
                    break
        if not found:
            return FoundCustomer(None)
        customer_id = min(int(c["id"]) for c in found)
        return FoundCustomer(customer_id, await self.customer_addresses(customer_id))

    async def customer_addresses(self, customer_id: int) -> tuple[tuple[int, Address], ...]:
        return tuple((int(a["id"]), _address(a)) for a in await self.client.list_customer_addresses(customer_id))

    async def read_order(self, public_id: str, ticket_public_ids: Iterable[str]) -> OrderReading | None:
        """The sales order with this public id and everything on it, or None if there is none."""
        found = await self.client.find_orders(public_id)
        if not found:
            return None
        h = min(found, key=lambda o: int(o["id"]))
        order_id = int(h["id"])
        d = self.dialect
        lines = tuple(self._line(ln) for ln in await self.client.list_order_lines(order_id))
        taxes = sum((_money(t["value"]) for t in await self.client.list_order_taxes(order_id)), Decimal("0.00"))
        payments = tuple(HPayment(int(p["id"]), _money(p["amount"]), int(p["payment_type_id"]))
                         for p in await self.client.list_order_payments(order_id))
        discounts = Decimal("0.00")
        if d.order_discounts_listed:   # ASSUMED readable: the doc shows only the POST
            async for page in self.client.paginate(f"sales/orders/{order_id}/discounts", [], per_page=d.per_page):
                discounts += sum((_money(x["amount"]) for x in page.get("results") or ()), Decimal("0.00"))
        invoices = []
        for inv in await self.client.list_invoices(order_id):
            raw_lines = inv["lines"] if d.include_lines and "lines" in inv else \
                await self.client.list_invoice_lines(int(inv["id"]))
            link = d.invoice_line_order_line_field
            inv_lines = tuple(ReadInvoiceLine(int(il["id"]), int(il["item_id"]), int(il["qty"]),
                                              _opt_int(il.get(link)) if link else None) for il in raw_lines)
            invoices.append(ReadInvoice(int(inv["id"]), _opt_int(inv.get(d.invoice_location_field)),
                                        inv.get("status") == d.invoice_status_complete, inv_lines))
        tickets = []
        for name in ticket_public_ids:
            hits = await self.client.find_tickets(name)
            if hits:
                t = min(hits, key=lambda t: int(t["id"]))
                tickets.append(ReadTicket(int(t["id"]), str(t.get("public_id") or name),
                                          _money(t["total"]) if t.get("total") is not None else None))
        return OrderReading(
            order_id=order_id, status=str(h.get("status")), customer_id=_opt_int(h.get("customer_id")),
            billing_address_id=_opt_int(h.get("billing_address_id")),
            shipping_address_id=_opt_int(h.get("shipping_address_id")),
            shipping_charge=_money(h.get("shipping_charge") or "0.00"), lines=lines, tax_total=taxes,
            payments=payments, invoices=tuple(invoices), tickets=tuple(tickets),
            custom=tuple(sorted((str(k), "" if v is None else str(v)) for k, v in (h.get("custom") or {}).items())),
            discount_total=discounts)

    async def order_headers(self, order_ids: Sequence[int]) -> tuple[dict[int, OrderHeader], int]:
        """Many orders' headers in few requests: `GET /sales/orders?_filter={"id": {"$in": [...]}}`
        [DOC §1 `$in`, §2 the fields]. Also returns how many requests it took (the watch's budget)."""
        out: dict[int, OrderHeader] = {}
        requests = 0
        ids = sorted(set(order_ids))
        for start in range(0, len(ids), _HEADER_CHUNK):
            chunk = ids[start:start + _HEADER_CHUNK]
            params = [("_filter", encode_filter(F.in_("id", chunk)))]
            async for page in self.client.paginate("sales/orders", params, per_page=_HEADER_CHUNK):
                requests += 1
                for h in page.get("results") or []:
                    total = h.get("total")
                    out[int(h["id"])] = OrderHeader(
                        int(h["id"]), str(h.get("status")), _money(total) if total is not None else None,
                        _opt_int(h.get("billing_address_id")), _opt_int(h.get("shipping_address_id")),
                        dict(h.get("custom") or {}))
        return out, requests

    def _line(self, ln: Json) -> ReadLine:
        d = self.dialect
        shopify_id = invoiced = None
        if d.order_line_custom_key:
            key = (ln.get("custom") or {}).get(d.order_line_custom_key)
            shopify_id = int(key) if key not in (None, "") else None
        if d.order_line_invoiced_field and ln.get(d.order_line_invoiced_field) is not None:
            invoiced = int(ln[d.order_line_invoiced_field])
        adjusted = _money(ln["adjusted_unit_price"])
        original = ln.get("original_unit_price")
        return ReadLine(int(ln["id"]), int(ln["item_id"]), int(ln["qty"]), adjusted,
                        _money(original) if original is not None else adjusted,
                        _opt_int(ln.get("ship_from_location_id")), shopify_id, invoiced)

    # -- the one write path ---------------------------------------------------------------------
    async def send(self, mirror: Mirror, action: Action) -> tuple[int | None, Json | None]:
        request = SENDERS.get(type(action))
        if request is None:
            raise TypeError(f"no Heartland call for {type(action).__name__}")
        return await request(self.client, self.dialect, action)


# One request per mutation kind (checked complete against sync.actions.MUTATIONS by the tests):
# each returns the new record's id for creates, and a document worth listing.
Sent = tuple[int | None, Json | None]


async def _customer(c: HeartlandClient, d: Dialect, a: CreateCustomer) -> Sent:
    return await c.create_customer({k: v for k, v in a.fields.items() if v is not None}), {"kind": "customer"}


async def _address(c: HeartlandClient, d: Dialect, a: AddAddress) -> Sent:
    return await c.add_customer_address(a.customer_id, a.fields), None


async def _order(c: HeartlandClient, d: Dialect, a: CreateOrder) -> Sent:
    return await c.create_order(a.fields), {"kind": "order", "public_id": a.public_id}


async def _line(c: HeartlandClient, d: Dialect, a: AddLine) -> Sent:
    return await c.add_order_line(a.order_id, line_fields(a, d)), None


async def _update_line(c: HeartlandClient, d: Dialect, a: UpdateLine) -> Sent:
    body: Json = {}
    if a.qty is not None:
        body["qty"] = a.qty
    if a.location_id is not None:
        body["ship_from_location_id"] = a.location_id
    await c.update_order_line(a.order_id, a.line_id, body)
    return None, None


async def _delete_line(c: HeartlandClient, d: Dialect, a: DeleteLine) -> Sent:
    await c.delete_order_line(a.order_id, a.line_id)
    return None, None


async def _tax(c: HeartlandClient, d: Dialect, a: AddTax) -> Sent:
    return await c.add_order_tax(a.order_id, a.description, a.value), None


async def _shipping(c: HeartlandClient, d: Dialect, a: SetShipping) -> Sent:
    await c.update_order(a.order_id, {"shipping_charge": a.value})
    return None, None


async def _payment(c: HeartlandClient, d: Dialect, a: AddPayment) -> Sent:
    pid = await c.add_order_payment(a.order_id, a.amount, a.payment_type_id)
    return pid, {"kind": "payment", "amount": a.amount}


async def _status(c: HeartlandClient, d: Dialect, a: SetStatus) -> Sent:
    await c.set_order_status(a.order_id, a.status)
    return None, None


async def _invoice(c: HeartlandClient, d: Dialect, a: CreateInvoice) -> Sent:
    iid = await c.create_invoice(a.order_id, a.customer_id, a.location_id, a.station_id)
    return iid, {"kind": "invoice", "location_id": a.location_id}


async def _invoice_line(c: HeartlandClient, d: Dialect, a: AddInvoiceLine) -> Sent:
    return await c.add_invoice_line(a.invoice_id, a.item_id, a.qty, a.order_line_id), None


async def _complete_invoice(c: HeartlandClient, d: Dialect, a: CompleteInvoice) -> Sent:
    await c.complete_invoice(a.invoice_id)
    return None, None


async def _ticket(c: HeartlandClient, d: Dialect, a: CreateTicket) -> Sent:
    tid = await c.create_ticket(ticket_fields(a, d))
    total = sum((ln.unit_price * ln.qty for ln in a.lines), a.tax)
    return tid, {"kind": "ticket", "public_id": a.public_id, "amount": total,
                 "detail": {"refund_id": a.refund_id, "sold": [list(x) for x in a.sold]}}


SENDERS: dict[type[Action], Callable[[HeartlandClient, Dialect, Any], Awaitable[Sent]]] = {
    CreateCustomer: _customer, AddAddress: _address, CreateOrder: _order, AddLine: _line,
    UpdateLine: _update_line, DeleteLine: _delete_line, AddTax: _tax, SetShipping: _shipping,
    AddPayment: _payment, SetStatus: _status, CreateInvoice: _invoice, AddInvoiceLine: _invoice_line,
    CompleteInvoice: _complete_invoice, CreateTicket: _ticket,
}


def line_fields(a: AddLine, dialect: Dialect) -> Json:
    fields: Json = {"item_id": a.item_id, "qty": a.qty, "original_unit_price": a.original_price,
                    "adjusted_unit_price": a.unit_price, "description": a.description}
    if a.location_id is not None:
        fields["ship_from_location_id"] = a.location_id
    if dialect.order_line_custom_key:
        fields["custom"] = {dialect.order_line_custom_key: str(a.shopify_line_id)}
    return fields


def ticket_fields(a: CreateTicket, dialect: Dialect) -> Json:
    fields: Json = {
        "public_id": a.public_id, "station_id": a.station_id, "customer_id": a.customer_id, "status": "complete",
        "item_lines": [{"type": "ItemLine", "item_id": ln.item_id, "qty": ln.qty, "unit_price": ln.unit_price,
                        "description": ln.description} for ln in a.lines],
        "tax_lines": [{"type": "TaxLine", "description": "Sales Tax", "value": a.tax}] if a.tax else [],
        "payments": [{"type": dialect.ticket_payment_type, "payment_type_id": a.payment_type_id,
                      "amount": a.payment, "deposit": False}] if a.payment else [],
    }
    if a.parent_invoice_id is not None and dialect.ticket_parent_field:
        fields[dialect.ticket_parent_field] = a.parent_invoice_id
    if not a.restock:
        fields[dialect.ticket_no_restock_field] = False
    return fields


def _address(a: Json) -> Address:
    return Address(**{k: str(a.get(k) or "") for k in Address.__dataclass_fields__})


def _money(value: Any) -> Decimal:
    return Decimal(str(value))


def _opt_int(value: Any) -> int | None:
    return int(value) if value is not None and value != "" else None
