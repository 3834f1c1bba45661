"""The values the sync core reasons about: the Shopify order, and Heartland as mortard knows it.

`ShopifyOrder.parse` turns the stored snapshot (plus refunds and transactions merged from their own
events) into typed values, raising `InvalidOrder` with a sentence a person can act on. `Mirror` is
Heartland's side: what mortard created and last saw, serialisable to the `orders.mirror` column and
rebuildable from Heartland reads after an ambiguous failure.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields, is_dataclass
from datetime import datetime, timezone
from decimal import Decimal, InvalidOperation
from typing import Any, Mapping, TypeVar

from mortard.sync.money import CENT, to_money


class InvalidOrder(ValueError):
    """The Shopify payload can't be synced as it is (a person must look); the message says why."""


@dataclass(frozen=True, slots=True)
class Address:
    first_name: str
    last_name: str
    line_1: str
    line_2: str
    city: str
    state: str
    postal_code: str
    country: str
    phone: str

    def as_heartland(self) -> dict[str, str]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class ShopifyLine:
    id: int
    sku: str
    title: str
    quantity: int           # originally ordered
    current_quantity: int   # ordered minus removed and refunded
    price: Decimal          # unit price before discounts
    discount: Decimal       # all discount allocations on the line, for the whole original quantity
    tax: Decimal
    location_id: int | None = None


@dataclass(frozen=True, slots=True)
class RefundLine:
    line_id: int
    quantity: int
    restock_type: str       # cancel | return | no_restock | legacy_restock
    subtotal: Decimal
    tax: Decimal


@dataclass(frozen=True, slots=True)
class Refund:
    id: int
    created_at: datetime | None
    lines: tuple[RefundLine, ...]
    amount: Decimal          # money refunded by successful refund transactions
    gateway: str
    shipping: Decimal        # shipping refunded (order adjustments of kind shipping_refund)
    discrepancy: Decimal     # other adjustments (refund_discrepancy and the like)


@dataclass(frozen=True, slots=True)
class Payment:
    gateway: str
    amount: Decimal


@dataclass(frozen=True, slots=True)
class Customer:
    email: str
    phone: str
    first_name: str
    last_name: str


@dataclass(frozen=True, slots=True)
class ShopifyOrder:
    id: int
    name: str
    currency: str
    updated_at: datetime | None
    test: bool
    cancelled: bool
    tags: tuple[str, ...]
    note_attributes: dict[str, str]
    customer: Customer
    billing_address: Address | None
    shipping_address: Address | None
    location_id: int | None
    lines: tuple[ShopifyLine, ...]
    taxes_included: bool
    total_price: Decimal
    current_total_price: Decimal
    current_total_tax: Decimal
    shipping: Decimal        # current shipping charge (after shipping discounts)
    payments: tuple[Payment, ...]   # money received, by gateway, before refunds
    refunds: tuple[Refund, ...]     # oldest first

    @property
    def refunded(self) -> Decimal:
        return sum((r.amount for r in self.refunds), Decimal("0.00"))

    @staticmethod
    def parse(snapshot: Mapping[str, Any], refunds: Mapping[str, Any] | None = None,
              transactions: Mapping[str, Any] | None = None) -> ShopifyOrder:
        try:
            return _parse_order(snapshot, refunds or {}, transactions or {})
        except InvalidOrder:
            raise
        except (KeyError, TypeError, ValueError, InvalidOperation, AttributeError) as exc:
            raise InvalidOrder(f"order payload is malformed: {type(exc).__name__}: {str(exc)[:200]}") from None


# -- Heartland side ------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class HLine:
    id: int
    shopify_line_id: int
    item_id: int
    qty: int
    unit_price: Decimal
    original_price: Decimal
    location_id: int | None = None
    qty_invoiced: int = 0


@dataclass(frozen=True, slots=True)
class HPayment:
    id: int
    amount: Decimal
    payment_type_id: int


@dataclass(frozen=True, slots=True)
class HInvoiceLine:
    id: int
    order_line_id: int
    qty: int


@dataclass(frozen=True, slots=True)
class HInvoice:
    id: int
    location_id: int
    lines: tuple[HInvoiceLine, ...] = ()
    completed: bool = False


@dataclass(frozen=True, slots=True)
class HTicket:
    """A ticket mortard made: a return (`refund_id`, public id `-R<n>`) or a sale of units Shopify added
    to a closed order (`sold`: (Shopify line id, qty) pairs, public id `-S<n>`)."""

    id: int
    public_id: str
    refund_id: int | None
    total: Decimal
    sold: tuple[tuple[int, int], ...] = ()

    @property
    def is_sale(self) -> bool:
        return bool(self.sold)

    def sold_units(self, shopify_line_id: int) -> int:
        return sum(q for line_id, q in self.sold if line_id == shopify_line_id)


@dataclass(frozen=True, slots=True)
class Mirror:
    """What mortard knows Heartland holds for one order."""

    customer_searched: bool = False
    customer_id: int | None = None
    billing_address_id: int | None = None
    shipping_address_id: int | None = None
    order_id: int | None = None
    status: str | None = None
    lines: tuple[HLine, ...] = ()
    tax_total: Decimal = Decimal("0.00")
    shipping_charge: Decimal = Decimal("0.00")
    payments: tuple[HPayment, ...] = ()
    invoices: tuple[HInvoice, ...] = ()
    tickets: tuple[HTicket, ...] = ()

    @property
    def payments_total(self) -> Decimal:
        return sum((p.amount for p in self.payments), Decimal("0.00"))

    @property
    def lines_total(self) -> Decimal:
        return sum((ln.unit_price * ln.qty for ln in self.lines), Decimal("0.00"))

    @property
    def order_total(self) -> Decimal:
        return (self.lines_total + self.tax_total + self.shipping_charge).quantize(CENT)

    def sold_for(self, shopify_line_id: int) -> int:
        """Units of a Shopify line sold on sale tickets (added after the order closed)."""
        return sum(t.sold_units(shopify_line_id) for t in self.tickets)

    @property
    def return_tickets(self) -> tuple[HTicket, ...]:
        return tuple(t for t in self.tickets if not t.is_sale)

    @property
    def sale_tickets(self) -> tuple[HTicket, ...]:
        return tuple(t for t in self.tickets if t.is_sale)

    def lines_for(self, shopify_line_id: int) -> tuple[HLine, ...]:
        return tuple(ln for ln in self.lines if ln.shopify_line_id == shopify_line_id)

    def replace_line(self, line: HLine) -> Mirror:
        return evolve(self, lines=tuple(line if ln.id == line.id else ln for ln in self.lines))

    def replace_invoice(self, invoice: HInvoice) -> Mirror:
        return evolve(self, invoices=tuple(invoice if i.id == invoice.id else i for i in self.invoices))

    def to_json(self) -> dict[str, Any]:
        return plain(self)

    @staticmethod
    def from_json(data: Mapping[str, Any] | None) -> Mirror:
        if not data:
            return Mirror()
        d = dict(data)
        return Mirror(
            customer_searched=bool(d.get("customer_searched")),
            customer_id=d.get("customer_id"),
            billing_address_id=d.get("billing_address_id"),
            shipping_address_id=d.get("shipping_address_id"),
            order_id=d.get("order_id"),
            status=d.get("status"),
            lines=tuple(HLine(**_decimals(ln, "unit_price", "original_price")) for ln in d.get("lines", ())),
            tax_total=Decimal(str(d.get("tax_total", "0.00"))),
            shipping_charge=Decimal(str(d.get("shipping_charge", "0.00"))),
            payments=tuple(HPayment(**_decimals(p, "amount")) for p in d.get("payments", ())),
            invoices=tuple(HInvoice(id=i["id"], location_id=i["location_id"], completed=i["completed"],
                                    lines=tuple(HInvoiceLine(**il) for il in i.get("lines", ())))
                           for i in d.get("invoices", ())),
            tickets=tuple(HTicket(id=t["id"], public_id=t["public_id"], refund_id=t.get("refund_id"),
                                  total=Decimal(str(t["total"])),
                                  sold=tuple((int(k), int(q)) for k, q in t.get("sold") or ()))
                          for t in d.get("tickets", ())),
        )


@dataclass(frozen=True, slots=True)
class Location:
    id: int
    public_id: str
    name: str
    station_id: int | None


@dataclass(frozen=True, slots=True)
class Catalog:
    """Per-account facts that rarely change: cached, never fetched per order."""

    locations: dict[str, Location] = field(default_factory=dict)   # by public_id
    payment_types: dict[str, int] = field(default_factory=dict)     # name -> id
    required_custom_fields: tuple[str, ...] = ()

    def location_by_id(self, location_id: int) -> Location | None:
        for loc in self.locations.values():
            if loc.id == location_id:
                return loc
        return None


@dataclass(frozen=True, slots=True)
class Item:
    id: int
    sku: str
    price: Decimal
    track_inventory: bool = True


def matching_address(addr: Address | None, addresses: list[Mapping[str, Any]]) -> int | None:
    """The id of a customer's existing address that is this one (same line 1, postal code, city)."""
    if addr is None:
        return None
    want = addr.as_heartland()
    for a in addresses:
        if all(str(a.get(k) or "") == want[k] for k in ("line_1", "postal_code", "city")):
            return int(a["id"])
    return None


# Stock available to route: (item_id, location_id) -> qty_available (already net of this daemon's
# in-flight reservations).
Stock = Mapping[tuple[int, int], int]


# -- parsing helpers -----------------------------------------------------------------------------

def _parse_order(o: Mapping[str, Any], refunds_by_id: Mapping[str, Any],
                 transactions_by_id: Mapping[str, Any]) -> ShopifyOrder:
    if not isinstance(o, Mapping):
        raise InvalidOrder("order payload is not an object")
    order_id = o.get("id")
    if not isinstance(order_id, int) or isinstance(order_id, bool) or order_id <= 0:
        raise InvalidOrder("order has no positive integer id")
    name = o.get("name") or f"#{o.get('order_number') or order_id}"
    if not isinstance(name, str) or len(name) > 64:
        raise InvalidOrder("order name must be text of at most 64 characters")
    currency = str(o.get("currency") or "USD")
    lines = tuple(_parse_line(li, i) for i, li in enumerate(_list(o, "line_items")))
    if not lines:
        raise InvalidOrder("order has no line items")
    if len({ln.id for ln in lines}) != len(lines):
        raise InvalidOrder("order has two line items with the same id")
    refunds_raw: dict[str, Any] = {}
    for r in _list(o, "refunds"):
        if isinstance(r, Mapping) and r.get("id") is not None:
            refunds_raw[str(r["id"])] = r
    refunds_raw.update({str(k): v for k, v in refunds_by_id.items()})
    refunds = tuple(sorted((_parse_refund(r, currency) for r in refunds_raw.values()),
                           key=lambda r: (r.created_at or datetime.min.replace(tzinfo=timezone.utc), r.id)))
    refunded_units: dict[int, int] = {}
    for r in refunds:
        for rl in r.lines:
            refunded_units[rl.line_id] = refunded_units.get(rl.line_id, 0) + rl.quantity
    fixed = []
    for ln in lines:
        if "current_quantity" not in _line_raw(o, ln.id):
            current = max(0, ln.quantity - refunded_units.get(ln.id, 0))
            ln = evolve(ln, current_quantity=current)
        fixed.append(ln)
    lines = tuple(fixed)
    for line_id in refunded_units:
        if line_id not in {ln.id for ln in lines}:
            raise InvalidOrder(f"a refund names line item {line_id}, which is not on the order")

    total_price = _money(o, "total_price")
    if total_price < 0:
        raise InvalidOrder(f"total_price is negative: {total_price}")
    current_total = _money(o, "current_total_price", default=total_price)
    current_tax = _money(o, "current_total_tax", default=_money(o, "total_tax", default=Decimal("0")))
    shipping = _shipping(o)
    customer = _customer(o)
    return ShopifyOrder(
        id=order_id, name=name, currency=currency, updated_at=_time(o.get("updated_at")),
        test=bool(o.get("test")), cancelled=o.get("cancelled_at") not in (None, ""),
        tags=tuple(t.strip() for t in str(o.get("tags") or "").split(",") if t.strip()),
        note_attributes={str(a.get("name")): str(a.get("value")) for a in _list(o, "note_attributes")
                         if isinstance(a, Mapping)},
        customer=customer,
        billing_address=_address(o.get("billing_address"), customer),
        shipping_address=_address(o.get("shipping_address"), customer),
        location_id=_opt_int(o.get("location_id")),
        lines=lines, taxes_included=bool(o.get("taxes_included")),
        total_price=total_price, current_total_price=current_total, current_total_tax=current_tax,
        shipping=shipping,
        payments=_payments(o, transactions_by_id, total_price),
        refunds=refunds,
    )


def _line_raw(o: Mapping[str, Any], line_id: int) -> Mapping[str, Any]:
    for li in _list(o, "line_items"):
        if isinstance(li, Mapping) and li.get("id") == line_id:
            return li
    return {}


def _parse_line(li: Any, index: int) -> ShopifyLine:
    if not isinstance(li, Mapping):
        raise InvalidOrder(f"line item {index} is not an object")
    line_id = li.get("id")
    if not isinstance(line_id, int) or isinstance(line_id, bool) or line_id <= 0:
        raise InvalidOrder(f"line item {index} has no positive integer id")
    qty = li.get("quantity")
    if not isinstance(qty, int) or isinstance(qty, bool) or not 0 < qty <= 100_000:
        raise InvalidOrder(f"line item {line_id} has quantity {qty!r}; expected a whole number from 1 to 100000")
    current = li.get("current_quantity", qty)
    if not isinstance(current, int) or isinstance(current, bool) or not 0 <= current <= qty:
        raise InvalidOrder(f"line item {line_id} has current_quantity {current!r}; expected 0 to {qty}")
    price = _money(li, "price")
    if price < 0:
        raise InvalidOrder(f"line item {line_id} has a negative price")
    discount = sum((_money(d, "amount") for d in _list(li, "discount_allocations") if isinstance(d, Mapping)),
                   Decimal("0.00"))
    if not discount and li.get("total_discount") not in (None, ""):
        discount = _money(li, "total_discount")
    if discount < 0 or discount > price * qty:
        raise InvalidOrder(f"line item {line_id} has discounts of {discount}, outside 0 to its value {price * qty}")
    tax = sum((_money(t, "price") for t in _list(li, "tax_lines") if isinstance(t, Mapping)), Decimal("0.00"))
    sku = li.get("sku") or ""
    if not isinstance(sku, str) or len(sku) > 255:
        raise InvalidOrder(f"line item {line_id} has an invalid sku")
    return ShopifyLine(id=line_id, sku=sku.strip(), title=str(li.get("title") or li.get("name") or "")[:255],
                       quantity=qty, current_quantity=current, price=price, discount=discount, tax=tax,
                       location_id=_opt_int(li.get("location_id")))


def _parse_refund(r: Mapping[str, Any], currency: str) -> Refund:
    if not isinstance(r, Mapping):
        raise InvalidOrder("a refund is not an object")
    refund_id = r.get("id")
    if not isinstance(refund_id, int) or isinstance(refund_id, bool) or refund_id <= 0:
        raise InvalidOrder("a refund has no positive integer id")
    lines = []
    for rl in _list(r, "refund_line_items"):
        if not isinstance(rl, Mapping):
            raise InvalidOrder(f"refund {refund_id} has a line that is not an object")
        qty = rl.get("quantity")
        if not isinstance(qty, int) or isinstance(qty, bool) or qty < 0:
            raise InvalidOrder(f"refund {refund_id} has a line with quantity {qty!r}")
        line_id = rl.get("line_item_id")
        if not isinstance(line_id, int) or isinstance(line_id, bool):
            raise InvalidOrder(f"refund {refund_id} has a line with no line_item_id")
        lines.append(RefundLine(line_id=line_id, quantity=qty, restock_type=str(rl.get("restock_type") or "no_restock"),
                                subtotal=_money(rl, "subtotal", default=Decimal("0")),
                                tax=_money(rl, "total_tax", default=Decimal("0"))))
    amount = Decimal("0.00")
    gateway = ""
    for t in _list(r, "transactions"):
        if isinstance(t, Mapping) and t.get("kind") == "refund" and t.get("status") in ("success", None):
            amount += _money(t, "amount")
            gateway = gateway or str(t.get("gateway") or "")
    shipping = discrepancy = Decimal("0.00")
    for adj in _list(r, "order_adjustments"):
        if not isinstance(adj, Mapping):
            continue
        value = -_money(adj, "amount", default=Decimal("0"))  # adjustments are negative amounts
        if adj.get("kind") == "shipping_refund":
            shipping += value
        else:
            discrepancy += value
    for sl in _list(r, "refund_shipping_lines"):
        if isinstance(sl, Mapping) and not any(
                isinstance(a, Mapping) and a.get("kind") == "shipping_refund" for a in _list(r, "order_adjustments")):
            shipping += _money(sl, "subtotal_amount", default=_money(sl, "amount", default=Decimal("0")))
    if amount < 0:
        raise InvalidOrder(f"refund {refund_id} has a negative amount")
    return Refund(id=refund_id, created_at=_time(r.get("created_at")), lines=tuple(lines), amount=amount,
                  gateway=gateway, shipping=shipping, discrepancy=discrepancy)


def _payments(o: Mapping[str, Any], transactions: Mapping[str, Any], total_price: Decimal) -> tuple[Payment, ...]:
    """Money received by gateway: successful sales and captures (refunds are kept per refund)."""
    by_gateway: dict[str, Decimal] = {}
    if transactions:
        for t in transactions.values():
            if not isinstance(t, Mapping) or t.get("status") != "success":
                continue
            if t.get("kind") in ("sale", "capture"):
                gw = str(t.get("gateway") or "manual")
                by_gateway[gw] = by_gateway.get(gw, Decimal("0.00")) + _money(t, "amount")
        return tuple(Payment(g, a) for g, a in sorted(by_gateway.items()))
    status = o.get("financial_status")
    if status in ("paid", "partially_paid", "partially_refunded", "refunded"):
        outstanding = _money(o, "total_outstanding", default=Decimal("0"))
        received = total_price - outstanding if status == "partially_paid" else total_price
        gateways = [g for g in _list(o, "payment_gateway_names") if isinstance(g, str)] or ["manual"]
        if received > 0:
            return (Payment(gateways[0], received),)
    return ()


def _shipping(o: Mapping[str, Any]) -> Decimal:
    current = o.get("current_shipping_price_set")
    if isinstance(current, Mapping):
        shop = current.get("shop_money")
        if isinstance(shop, Mapping) and shop.get("amount") is not None:
            return _money(shop, "amount")
    total = Decimal("0.00")
    for sl in _list(o, "shipping_lines"):
        if isinstance(sl, Mapping):
            key = "discounted_price" if sl.get("discounted_price") is not None else "price"
            total += _money(sl, key)
    return total


def _customer(o: Mapping[str, Any]) -> Customer:
    c = o.get("customer") if isinstance(o.get("customer"), Mapping) else {}
    assert isinstance(c, Mapping)
    return Customer(
        email=str(c.get("email") or o.get("email") or o.get("contact_email") or "").strip().lower(),
        phone=str(c.get("phone") or o.get("phone") or "").strip(),
        first_name=str(c.get("first_name") or "").strip(),
        last_name=str(c.get("last_name") or "").strip(),
    )


def _address(a: Any, customer: Customer) -> Address | None:
    if not isinstance(a, Mapping) or not (a.get("address1") or a.get("city")):
        return None
    return Address(first_name=str(a.get("first_name") or customer.first_name or ""),
                   last_name=str(a.get("last_name") or customer.last_name or ""),
                   line_1=str(a.get("address1") or ""), line_2=str(a.get("address2") or ""),
                   city=str(a.get("city") or ""), state=str(a.get("province_code") or a.get("province") or ""),
                   postal_code=str(a.get("zip") or ""), country=str(a.get("country_code") or a.get("country") or ""),
                   phone=str(a.get("phone") or ""))


def _list(o: Mapping[str, Any], key: str) -> list[Any]:
    value = o.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise InvalidOrder(f"{key} must be a list, not {type(value).__name__}")
    return value


def _money(o: Mapping[str, Any], key: str, default: Decimal | None = None) -> Decimal:
    value = o.get(key)
    if value is None or value == "":
        if default is None:
            raise InvalidOrder(f"{key} is missing")
        return default
    if isinstance(value, bool) or not isinstance(value, (str, int, float, Decimal)):
        raise InvalidOrder(f"{key} must be an amount, not {type(value).__name__}")
    try:
        money = to_money(value)
    except (InvalidOperation, ValueError):
        raise InvalidOrder(f"{key} is not an amount: {str(value)[:40]!r}") from None
    if abs(money) >= Decimal("1e12"):
        raise InvalidOrder(f"{key} is out of range: {str(value)[:40]}")
    return money


def _opt_int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _time(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        t = datetime.fromisoformat(value.replace("Z", "+00:00"))
        return (t if t.tzinfo else t.replace(tzinfo=timezone.utc)).astimezone(timezone.utc)
    except (ValueError, OverflowError):  # OverflowError: year 1 or 9999 shifted out of range by its offset
        return None


def _decimals(d: Mapping[str, Any], *keys: str) -> dict[str, Any]:
    out = dict(d)
    for k in keys:
        out[k] = Decimal(str(out[k]))
    return out


T = TypeVar("T")
_FIELD_NAMES: dict[type, tuple[str, ...]] = {}


def _names(cls: type) -> tuple[str, ...]:
    names = _FIELD_NAMES.get(cls)
    if names is None:
        names = _FIELD_NAMES[cls] = tuple(f.name for f in fields(cls))
    return names


def evolve(obj: T, **changes: Any) -> T:
    """`dataclasses.replace` for our frozen values (every field an init field), at a third of the
    cost: the planner and batching make a hundred and more copies per order."""
    kw = {n: getattr(obj, n) for n in _names(type(obj))}
    kw.update(changes)
    return type(obj)(**kw)


def plain(value: Any) -> Any:
    """A value as JSON-ready data: dataclasses as dicts, tuples as lists, Decimal as text.

    What `dataclasses.asdict` does, minus its deep copies: mirrors and actions are frozen values,
    and asdict was a fifth of the daemon's CPU (bench/pipeline.py --cprofile)."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if type(value) not in _FIELD_NAMES and (not is_dataclass(value) or isinstance(value, type)):
        return value
    return {n: plain(getattr(value, n)) for n in _names(type(value))}
