"""The sync core's port to Heartland: typed reads and one `send`, so the core never sees JSON.

`mortard.heartland.gateway.HeartlandGateway` implements it over HTTP, and all translation between
Heartland's JSON and these values lives there; tests use in-memory fakes. The readings carry only
what `heartland-api.md` documents, plus the fields a `Dialect` setting assumes (None when off):
which Heartland line is which Shopify line, and what is invoiced, are worked out in
`sync/recovery.py` from these readings and mortard's own journal.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Protocol

from mortard.heartland_contract.dialect import Dialect
from mortard.sync.actions import Action, Reason
from mortard.sync.model import Address, Catalog, HPayment, Item, Mirror

if TYPE_CHECKING:
    from mortard.sync.journal import Outcome, Planned


@dataclass(frozen=True, slots=True)
class ReadLine:
    """An order line as `GET /sales/orders/{id}/lines` documents it."""

    id: int
    item_id: int
    qty: int
    unit_price: Decimal          # adjusted_unit_price
    original_price: Decimal      # original_unit_price
    location_id: int | None      # ship_from_location_id
    shopify_line_id: int | None = None   # only with Dialect.order_line_custom_key
    qty_invoiced: int | None = None      # only with Dialect.order_line_invoiced_field


@dataclass(frozen=True, slots=True)
class ReadInvoiceLine:
    id: int
    item_id: int
    qty: int
    order_line_id: int | None = None     # only with Dialect.invoice_line_order_line_field


@dataclass(frozen=True, slots=True)
class ReadInvoice:
    id: int
    location_id: int | None              # Dialect.invoice_location_field
    completed: bool
    lines: tuple[ReadInvoiceLine, ...]


@dataclass(frozen=True, slots=True)
class ReadTicket:
    id: int
    public_id: str
    total: Decimal | None


@dataclass(frozen=True, slots=True)
class OrderReading:
    """Everything Heartland holds for one sales order, found by its `public_id`."""

    order_id: int
    status: str
    customer_id: int | None
    billing_address_id: int | None
    shipping_address_id: int | None
    shipping_charge: Decimal
    lines: tuple[ReadLine, ...]
    tax_total: Decimal
    payments: tuple[HPayment, ...]
    invoices: tuple[ReadInvoice, ...]
    tickets: tuple[ReadTicket, ...]      # those asked for by public id that exist
    custom: tuple[tuple[str, str], ...] = ()       # the order's `custom` (§1, §2)
    discount_total: Decimal = Decimal("0.00")      # only with Dialect.order_discounts_listed


@dataclass(frozen=True, slots=True)
class FoundCustomer:
    customer_id: int | None
    addresses: tuple[tuple[int, Address], ...] = ()


@dataclass(frozen=True, slots=True)
class JournalEntry:
    """One journal row as recovery reads it: what mortard sent (or was about to), and what it knows
    of the answer."""

    id: int
    action: str                    # an Action kind
    request: Mapping[str, Any]     # Action.describe(); a row written ahead holds stand-in ids (< 0)
    status: str                    # sync/journal.py statuses
    heartland_id: int | None = None


class HeartlandPort(Protocol):
    """What the sync core asks of one Heartland account."""

    dialect: Dialect

    async def catalog(self, payment_types: Iterable[str]) -> Catalog: ...
    async def items(self, skus: Iterable[str], match: str) -> dict[str, Item | None]: ...
    async def stock(self, item_ids: Sequence[int]) -> dict[tuple[int, int], int]: ...
    async def find_customer(self, rules: Sequence[str], email: str, phone: str) -> FoundCustomer: ...
    async def customer_addresses(self, customer_id: int) -> tuple[tuple[int, Address], ...]: ...
    async def read_order(self, public_id: str, ticket_public_ids: Iterable[str]) -> OrderReading | None: ...
    async def send(self, mirror: Mirror, action: Action) -> tuple[int | None, dict[str, Any] | None]:
        """Carry out one mutation; the new record's id (creates) and a document worth listing."""
        ...


# -- Shopify ---------------------------------------------------------------------------------------
# The core's port to one shop's Admin API (`mortard.shopify.gateway.ShopifyGateway` implements it over
# GraphQL; all GraphQL lives there). A fetched order is handed over as the orders/* webhook body it
# corresponds to, so the inbox, the parser and the planner treat it exactly like a webhook.

@dataclass(frozen=True, slots=True)
class OrderStamp:
    """An order as the reconciliation list shows it: which, and when it last changed."""

    order_id: int
    name: str
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class OrderStampPage:
    stamps: tuple[OrderStamp, ...]
    next_cursor: str | None          # None: this was the last page


@dataclass(frozen=True, slots=True)
class FetchedOrder:
    order_id: int
    name: str
    updated_at: datetime
    snapshot: Mapping[str, Any]        # shaped as the orders/* webhook body
    transactions: Mapping[str, Any]    # transaction id -> shaped as the order_transactions/create body


@dataclass(frozen=True, slots=True)
class WebhookSubscription:
    id: str
    topic: str                         # the webhook topic, e.g. "orders/create"
    address: str
    api_version: str


class ShopifyPort(Protocol):
    """What mortard asks of one shop's Admin API."""

    async def orders_updated_since(self, since: datetime, cursor: str | None,
                                   page_size: int) -> OrderStampPage: ...
    async def order(self, order_id: int) -> FetchedOrder | None: ...
    async def order_by_name(self, name: str) -> FetchedOrder | None: ...
    async def webhook_subscriptions(self) -> tuple[WebhookSubscription, ...]: ...
    async def create_webhook_subscription(self, topic: str, address: str) -> WebhookSubscription: ...
class WatchPort(HeartlandPort, Protocol):
    """What the watch over waiting orders (sync/watch_runner.py) asks of an account beyond the
    core's port: many orders' headers in few requests. (It only reads: every write is the machine's.)"""

    async def order_headers(self, order_ids: Sequence[int]) -> tuple[dict[int, Any], int]:
        """Header by order id (`sync.watch.OrderHeader`), and the requests it took."""
        ...

class CustomerMemoryPort(Protocol):
    """Shopify buyer → Heartland customer and addresses, per account (mortard/store/customers.py)."""

    async def recall(self, account: str, key: str) -> tuple[int, tuple[tuple[int, dict[str, Any]], ...]] | None: ...
    async def remember(self, account: str, key: str, customer_id: int,
                       addresses: Sequence[tuple[int, dict[str, Any]]]) -> None: ...
    async def forget(self, account: str, key: str, customer_id: int) -> None: ...


class OrderStore(Protocol):
    """Where the machine keeps an order's lease, journal and outcome (`store/orders.py` implements it)."""

    owner: str
    lease_s: float

    async def claim_one(self, shop: str, order_id: int) -> Any: ...   # the loaded row, or None
    async def claim_due(self, limit: int) -> list[tuple[str, int]]: ...
    async def load(self, shop: str, order_id: int) -> Any: ...
    async def record(self, shop: str, order_id: int, *, outcomes: list[Outcome], planned: list[Planned],
                     mirror: dict[str, Any] | None, heartland_order_id: int | None,
                     mirror_dirty: bool | None, resolve: bool) -> list[int]: ...
    async def finish(self, shop: str, order_id: int, *, state: str, reasons: tuple[Reason, ...] = (),
                     error: str | None = None, seen_seq: int, success: bool,
                     next_attempt_at: datetime | None = None, account: str | None = None,
                     outcomes: Sequence[Outcome] = (), mirror: dict[str, Any] | None = None,
                     heartland_order_id: int | None = None) -> bool: ...
    async def note(self, shop: str, order_id: int, kind: str, detail: dict[str, Any]) -> None: ...
    async def release(self, shop: str, order_id: int) -> None: ...
    async def journal_entries(self, shop: str, order_id: int) -> list[JournalEntry]: ...
