"""An asyncio client for the subset of Heartland Retail's REST API that mortard uses.

See docs/heartland-contract.md. One `HeartlandClient` per account: the endpoints here, over
`transport.HeartlandTransport`, which owns (or borrows) one aiohttp session, sends every request
through the account's `AccountLimits`, and turns failures into the `errors` tree. All HTTP goes
through `_send`, the transport seam. The account and its hooks are `account.py`'s.

Reads retry briefly on their own (429 within a cap, 5xx, timeouts, connection errors). Mutations are
never re-sent unless the request provably never left (connection refused); when their outcome is
unknown they raise `HeartlandAmbiguous` and the caller must look before re-sending.
"""
from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from ._filter import F
from .account import HeartlandAccount, HeartlandObserver, NullObserver, RetryPolicy
from .transport import _INCLUDE_LINES, HeartlandTransport, Json, _chunks, _filters, _no_silent_resend, _unique
from mortard.secret import Secret

__all__ = [
    "HeartlandAccount",
    "HeartlandClient",
    "HeartlandObserver",
    "NullObserver",
    "RetryPolicy",
    "Secret",
]

_CHUNK = 100  # ids per `$in` filter
_ = (_no_silent_resend,)   # importable from here, as before the split


class HeartlandClient(HeartlandTransport):
    """One Heartland account's endpoints, as mortard uses them."""

    # ------------------------------------------------------------------------------ setup lookups
    async def list_locations(self) -> list[Json]:
        return await self._all("locations", [("_include[]", "stations")])

    async def list_payment_types(self, name: str | None = None) -> list[Json]:
        return await self._all("payment_types", _filters(F.eq("name", name)) if name is not None else None)

    async def create_payment_type(self, name: str) -> int:
        return await self._create("payment_types", {"name": name})

    async def list_custom_fields(self, group_id: str | None = None, required: bool | None = None) -> list[Json]:
        terms = []
        if group_id is not None:
            terms.append(F.eq("group_id", group_id))
        if required is not None:
            terms.append(F.eq("required", required))
        return await self._all("custom_fields", _filters(*terms))

    # ------------------------------------------------------------------------------ items, stock
    async def find_items(self, public_ids: Iterable[str]) -> list[Json]:
        """Items whose `public_id` is in `public_ids` (batched `$in`, 100 per request)."""
        return await self._find_in("items", "public_id", public_ids)

    async def find_items_by_custom(self, key: str, values: Iterable[str]) -> list[Json]:
        return await self._find_in("items", F.custom(key), values)

    async def get_item(self, item_id: int) -> Json:
        return await self._get(f"items/{item_id}")

    async def inventory_values(
        self, item_ids: Iterable[int], location_ids: Iterable[int] | None = None
    ) -> list[Json]:
        """Rows `{item_id, location_id, qty_on_hand, qty_committed, qty_available}`."""
        locations = F.in_("location_id", _unique(location_ids)) if location_ids is not None else None
        rows: list[Json] = []
        for chunk in _chunks(_unique(item_ids), _CHUNK):
            terms = [F.in_("item_id", chunk)] + ([locations] if locations else [])
            params = [("group[]", "item_id"), ("group[]", "location_id"), *_filters(*terms)]
            rows.extend(await self._all("inventory/values", params, per_page="all"))
        return rows

    async def _find_in(self, path: str, field_name: str, values: Iterable[Any]) -> list[Json]:
        found: list[Json] = []
        for chunk in _chunks(_unique(values), _CHUNK):
            found.extend(await self._all(path, _filters(F.in_(field_name, chunk))))
        return found

    # ------------------------------------------------------------------------------ customers
    async def find_customers(self, email: str | None = None, phone: str | None = None) -> list[Json]:
        terms = [F.eq(k, v) for k, v in (("email", email), ("phone", phone)) if v is not None]
        if not terms:
            raise ValueError("find_customers needs an email or a phone")
        return await self._all("customers", _filters(*terms))

    async def find_customers_in(self, field_name: str, values: Iterable[str]) -> list[Json]:
        """Customers whose `field_name` (email or phone) is any of `values`: one `$in` read."""
        if field_name not in ("email", "phone"):
            raise ValueError("find_customers_in takes email or phone")
        return await self._find_in("customers", field_name, values)

    async def create_customer(self, fields: Json) -> int:
        return await self._create("customers", fields)

    async def add_customer_address(self, customer_id: int, fields: Json) -> int:
        return await self._create(f"customers/{customer_id}/addresses", fields)

    async def list_customer_addresses(self, customer_id: int) -> list[Json]:
        return await self._all(f"customers/{customer_id}/addresses")

    # ------------------------------------------------------------------------------ sales orders
    async def create_order(self, fields: Json) -> int:
        """POST /sales/orders; `status` defaults to the dialect's pending."""
        return await self._create("sales/orders", {"status": self.dialect.status_pending, **fields})

    async def get_order(self, order_id: int) -> Json:
        return await self._get(f"sales/orders/{order_id}")

    async def find_orders(self, public_id: str) -> list[Json]:
        return await self._all("sales/orders", _filters(F.eq("public_id", public_id)))

    async def update_order(self, order_id: int, fields: Json) -> Json:
        return await self._put(f"sales/orders/{order_id}", fields)

    async def set_order_status(self, order_id: int, status: str) -> Json:
        return await self.update_order(order_id, {"status": status})

    async def list_order_lines(self, order_id: int) -> list[Json]:
        return await self._all(f"sales/orders/{order_id}/lines")

    async def add_order_line(self, order_id: int, fields: Json) -> int:
        return await self._create(f"sales/orders/{order_id}/lines", fields)

    async def update_order_line(self, order_id: int, line_id: int, fields: Json) -> Json:
        return await self._put(f"sales/orders/{order_id}/lines/{line_id}", fields)

    async def delete_order_line(self, order_id: int, line_id: int) -> None:
        """DELETE the line; where the dialect says deletes are unsupported, set its qty to 0."""
        if self.dialect.line_delete_supported:
            await self._delete(f"sales/orders/{order_id}/lines/{line_id}")
        else:
            await self.update_order_line(order_id, line_id, {"qty": 0})

    async def add_order_tax(self, order_id: int, description: str, value: Decimal) -> int:
        return await self._create(f"sales/orders/{order_id}/taxes", {"description": description, "value": value})

    async def list_order_taxes(self, order_id: int) -> list[Json]:
        return await self._all(f"sales/orders/{order_id}/taxes")

    async def add_order_discount(self, order_id: int, description: str, amount: Decimal) -> int:
        body = {"description": description, "amount": amount}
        return await self._create(f"sales/orders/{order_id}/discounts", body)

    async def add_order_payment(self, order_id: int, amount: Decimal, payment_type_id: int,
                                custom: Json | None = None) -> int:
        """A deposit on the order; a negative `amount` is a refund."""
        body: Json = {"type": self.dialect.order_payment_type, "deposit": True,
                      "amount": amount, "payment_type_id": payment_type_id}
        if custom:
            body["custom"] = custom
        return await self._create(f"sales/orders/{order_id}/payments", body)

    async def list_order_payments(self, order_id: int) -> list[Json]:
        return await self._all(f"sales/orders/{order_id}/payments")

    # ------------------------------------------------------------------------------ invoices
    async def create_invoice(self, order_id: int, customer_id: int, location_id: int, station_id: int) -> int:
        body = {"order_id": order_id, "customer_id": customer_id,
                self.dialect.invoice_location_field: location_id, "station_id": station_id}
        return await self._create("sales/invoices", body)

    async def add_invoice_line(self, invoice_id: int, item_id: int, qty: int, order_line_id: int | None) -> int:
        body: Json = {"type": "ItemLine", "item_id": item_id, "qty": qty}
        link = self.dialect.invoice_line_order_line_field
        if link is not None and order_line_id is not None:
            body[link] = order_line_id
        return await self._create(f"sales/invoices/{invoice_id}/lines", body)

    async def complete_invoice(self, invoice_id: int) -> Json:
        return await self._put(f"sales/invoices/{invoice_id}", {"status": self.dialect.invoice_status_complete})

    async def list_invoices(self, order_id: int) -> list[Json]:
        """The order's invoices; with `Dialect.include_lines` each carries its `lines`, otherwise
        read them with `list_invoice_lines` (the documented way)."""
        params = [*(_INCLUDE_LINES if self.dialect.include_lines else ()), *_filters(F.eq("order_id", order_id))]
        return await self._all("sales/invoices", params)

    async def list_invoice_lines(self, invoice_id: int) -> list[Json]:
        return await self._all(f"sales/invoices/{invoice_id}/lines")

    # ------------------------------------------------------------------------------ tickets
    async def create_ticket(self, fields: Json) -> int:
        return await self._create("sales/tickets", fields)

    async def find_tickets(self, public_id: str) -> list[Json]:
        return await self._all("sales/tickets", _filters(F.eq("public_id", public_id)))
