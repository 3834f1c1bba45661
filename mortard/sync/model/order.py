"""The Shopify order and its refunds, read from Shopify's JSON.

`ShopifyOrder.parse` turns the stored snapshot (plus refunds and transactions merged from their own
events) into typed values, raising `InvalidOrder` with a sentence a person can act on. Every amount is
read in the shop's currency; money Shopify sent only in another one is a sentence in `money_problems`.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from decimal import Decimal, InvalidOperation
from typing import Any, Mapping

from mortard.sync.model.shopify import Address, Customer, InvalidOrder, Payment, RefundLine, ShopifyLine
from mortard.sync.model.shopify_json import (
    amount_at, list_at, money_at, optional_int, shop_money_at, utc_time,
)
from mortard.sync.model.values import evolve
from mortard.sync.money import CENT


@dataclass(frozen=True, slots=True)
class Refund:
    id: int
    created_at: datetime | None
    lines: tuple[RefundLine, ...]
    amount: Decimal          # money refunded by successful refund transactions
    gateway: str
    shipping: Decimal        # shipping refunded, before its tax
    discrepancy: Decimal     # other adjustments (refund_discrepancy and the like)
    shipping_tax: Decimal = Decimal("0.00")   # tax refunded with the shipping
    # Whether the order snapshot already reflects this refund (it lists it in `refunds`). A refund that
    # only came as refunds/create is newer than the snapshot: its lines and tax are not yet out of the
    # snapshot's current_* figures.
    in_snapshot: bool = True

    @property
    def tax(self) -> Decimal:
        """All tax this refund gives back: its lines' and its shipping's."""
        return sum((rl.tax for rl in self.lines), self.shipping_tax)

    @staticmethod
    def parse(payload: Mapping[str, Any], currency: str) -> tuple[Refund, tuple[str, ...]]:
        """A refunds/create payload on its own (the shop's currency given): the refund, and what of its
        money exists only in another currency."""
        problems: list[str] = []
        try:
            return _parse_refund(payload, currency, problems), tuple(problems)
        except InvalidOrder:
            raise
        except (KeyError, TypeError, ValueError, InvalidOperation, AttributeError) as exc:
            raise InvalidOrder(f"refund payload is malformed: {type(exc).__name__}: {str(exc)[:200]}") from None


@dataclass(frozen=True, slots=True)
class ShopifyOrder:
    id: int
    name: str
    currency: str            # the shop's currency: every amount below is in it
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
    # current_*: after every refund known, including those newer than the snapshot (see Refund.in_snapshot).
    current_total_price: Decimal
    current_total_tax: Decimal
    shipping: Decimal        # current shipping charge (after shipping discounts)
    payments: tuple[Payment, ...]   # money received, by gateway, before refunds
    refunds: tuple[Refund, ...]     # oldest first
    presentment_currency: str = ""  # the buyer's currency (transactions are in it)
    # Money Shopify sent only in another currency than the shop's, one sentence each: such an order can't
    # be balanced in the shop's currency, and waits for a person (never a sum of mixed currencies).
    money_problems: tuple[str, ...] = ()

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
    currency = str(o.get("currency") or "USD").upper()
    presentment = str(o.get("presentment_currency") or currency).upper()
    problems: list[str] = []
    lines = tuple(_parse_line(li, i, currency) for i, li in enumerate(list_at(o, "line_items")))
    if not lines:
        raise InvalidOrder("order has no line items")
    if len({ln.id for ln in lines}) != len(lines):
        raise InvalidOrder("order has two line items with the same id")
    refunds_raw: dict[str, Any] = {}
    for r in list_at(o, "refunds"):
        if isinstance(r, Mapping) and r.get("id") is not None:
            refunds_raw[str(r["id"])] = r
    in_snapshot = set(refunds_raw)
    refunds_raw.update({str(k): v for k, v in refunds_by_id.items()})
    parsed = []
    for key, r in refunds_raw.items():
        refund = _parse_refund(r, currency, problems)
        parsed.append(refund if key in in_snapshot else evolve(refund, in_snapshot=False))
    refunds = tuple(sorted(parsed, key=lambda r: (r.created_at or datetime.min.replace(tzinfo=timezone.utc), r.id)))
    refunded_units: dict[int, int] = {}
    newer_units: dict[int, int] = {}     # refunded by refunds the snapshot doesn't reflect yet
    for r in refunds:
        for rl in r.lines:
            refunded_units[rl.line_id] = refunded_units.get(rl.line_id, 0) + rl.quantity
            if not r.in_snapshot:
                newer_units[rl.line_id] = newer_units.get(rl.line_id, 0) + rl.quantity
    for line_id in refunded_units:
        if line_id not in {ln.id for ln in lines}:
            raise InvalidOrder(f"a refund names line item {line_id}, which is not on the order")
    fixed = []
    for ln in lines:
        if "current_quantity" not in _line_raw(o, ln.id):
            ln = evolve(ln, current_quantity=max(0, ln.quantity - refunded_units.get(ln.id, 0)))
        elif newer_units.get(ln.id):
            ln = evolve(ln, current_quantity=max(0, ln.current_quantity - newer_units[ln.id]))
        fixed.append(ln)
    lines = tuple(fixed)

    total_price = amount_at(o, "total_price", currency)
    if total_price < 0:
        raise InvalidOrder(f"total_price is negative: {total_price}")
    current_total = amount_at(o, "current_total_price", currency, default=total_price)
    current_tax = amount_at(o, "current_total_tax", currency,
                            default=amount_at(o, "total_tax", currency, default=Decimal("0")))
    # The snapshot's current figures don't yet take out refunds newer than it: take them out here, so
    # that the refund and the order it applies to describe one Shopify state.
    for r in refunds:
        if not r.in_snapshot:
            current_tax -= r.tax
            current_total -= sum((rl.subtotal for rl in r.lines), r.shipping) + r.tax
    shipping = shipping_charged(o, currency)
    customer = _customer(o)
    payments = _payments(o, transactions_by_id, total_price, currency, presentment, problems)
    return ShopifyOrder(
        id=order_id, name=name, currency=currency, updated_at=utc_time(o.get("updated_at")),
        test=bool(o.get("test")), cancelled=o.get("cancelled_at") not in (None, ""),
        tags=tuple(t.strip() for t in str(o.get("tags") or "").split(",") if t.strip()),
        note_attributes={str(a.get("name")): str(a.get("value")) for a in list_at(o, "note_attributes")
                         if isinstance(a, Mapping)},
        customer=customer,
        billing_address=_address(o.get("billing_address"), customer),
        shipping_address=_address(o.get("shipping_address"), customer),
        location_id=optional_int(o.get("location_id")),
        lines=lines, taxes_included=bool(o.get("taxes_included")),
        total_price=total_price, current_total_price=current_total, current_total_tax=current_tax,
        shipping=shipping, payments=payments, refunds=refunds,
        presentment_currency=presentment, money_problems=tuple(dict.fromkeys(problems)),
    )


def _line_raw(o: Mapping[str, Any], line_id: int) -> Mapping[str, Any]:
    for li in list_at(o, "line_items"):
        if isinstance(li, Mapping) and li.get("id") == line_id:
            return li
    return {}


def _parse_line(li: Any, index: int, currency: str) -> ShopifyLine:
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
    price = amount_at(li, "price", currency)
    if price < 0:
        raise InvalidOrder(f"line item {line_id} has a negative price")
    discount = sum((amount_at(d, "amount", currency) for d in list_at(li, "discount_allocations") if isinstance(d, Mapping)),
                   Decimal("0.00"))
    if not discount and (li.get("total_discount") not in (None, "") or "total_discount_set" in li):
        discount = amount_at(li, "total_discount", currency, default=Decimal("0"))
    if discount < 0 or discount > price * qty:
        raise InvalidOrder(f"line item {line_id} has discounts of {discount}, outside 0 to its value {price * qty}")
    tax = sum((amount_at(t, "price", currency) for t in list_at(li, "tax_lines") if isinstance(t, Mapping)),
              Decimal("0.00"))
    sku = li.get("sku") or ""
    if not isinstance(sku, str) or len(sku) > 255:
        raise InvalidOrder(f"line item {line_id} has an invalid sku")
    return ShopifyLine(id=line_id, sku=sku.strip(), title=str(li.get("title") or li.get("name") or "")[:255],
                       quantity=qty, current_quantity=current, price=price, discount=discount, tax=tax,
                       location_id=optional_int(li.get("location_id")))


def _parse_refund(r: Mapping[str, Any], currency: str, problems: list[str]) -> Refund:
    if not isinstance(r, Mapping):
        raise InvalidOrder("a refund is not an object")
    refund_id = r.get("id")
    if not isinstance(refund_id, int) or isinstance(refund_id, bool) or refund_id <= 0:
        raise InvalidOrder("a refund has no positive integer id")
    lines = []
    for rl in list_at(r, "refund_line_items"):
        if not isinstance(rl, Mapping):
            raise InvalidOrder(f"refund {refund_id} has a line that is not an object")
        qty = rl.get("quantity")
        if not isinstance(qty, int) or isinstance(qty, bool) or qty < 0:
            raise InvalidOrder(f"refund {refund_id} has a line with quantity {qty!r}")
        line_id = rl.get("line_item_id")
        if not isinstance(line_id, int) or isinstance(line_id, bool):
            raise InvalidOrder(f"refund {refund_id} has a line with no line_item_id")
        lines.append(RefundLine(line_id=line_id, quantity=qty, restock_type=str(rl.get("restock_type") or "no_restock"),
                                subtotal=amount_at(rl, "subtotal", currency, default=Decimal("0")),
                                tax=amount_at(rl, "total_tax", currency, default=Decimal("0"))))
    amount = Decimal("0.00")
    gateway = ""
    for t in list_at(r, "transactions"):
        if isinstance(t, Mapping) and t.get("kind") == "refund" and t.get("status") in ("success", None):
            value = money_at(t, "amount")
            if _foreign(t, currency):
                # A transaction's amount is in its own currency (the buyer's); Shopify sends no shop-money
                # figure for it, and adding it to shop money would mix currencies.
                problems.append(f"refund {refund_id} paid back {value} {t.get('currency')}, and Shopify sends "
                                f"no {currency} amount for it")
                continue
            amount += value
            gateway = gateway or str(t.get("gateway") or "")
    shipping, shipping_tax, discrepancy = refund_adjustments(r, refund_id, currency)
    if amount < 0:
        raise InvalidOrder(f"refund {refund_id} has a negative amount")
    return Refund(id=refund_id, created_at=utc_time(r.get("created_at")), lines=tuple(lines), amount=amount,
                  gateway=gateway, shipping=shipping, discrepancy=discrepancy, shipping_tax=shipping_tax)


def refund_adjustments(r: Mapping[str, Any], refund_id: int, currency: str) -> tuple[Decimal, Decimal, Decimal]:
    """(shipping, tax on that shipping, other adjustments) a refund gives back.

    Since API 2024-10 refunded shipping is in `refund_shipping_lines` (`subtotal_amount_set`); before, it
    was an order adjustment of kind `shipping_refund` (its `amount` negative, `tax_amount` the shipping's
    tax). Payloads of 2025 versions still carry both for the same money, so the shipping lines win when
    present and the adjustment only fills in a tax they don't give."""
    adj_shipping = adj_tax = discrepancy = Decimal("0.00")
    for adj in list_at(r, "order_adjustments"):
        if not isinstance(adj, Mapping):
            continue
        value = -amount_at(adj, "amount", currency, default=Decimal("0"))  # adjustments are negative amounts
        tax = amount_at(adj, "tax_amount", currency, default=Decimal("0"))
        if adj.get("kind") == "shipping_refund":
            adj_shipping += value
            adj_tax += abs(tax)      # a shipping refund gives tax back, whatever sign it is written with
        else:
            discrepancy += value
    shipping_lines = [sl for sl in list_at(r, "refund_shipping_lines") if isinstance(sl, Mapping)]
    if not shipping_lines:
        return adj_shipping, adj_tax, discrepancy
    shipping = tax = Decimal("0.00")
    tax_known = False
    for sl in shipping_lines:
        if not isinstance(sl.get("subtotal_amount_set"), Mapping):
            raise InvalidOrder(f"refund {refund_id} has a shipping line without subtotal_amount_set")
        sub = shop_money_at(sl, "subtotal_amount_set", currency)
        shipping += sub
        if isinstance(sl.get("tax_amount_set"), Mapping):   # GraphQL's taxAmountSet, when REST sends it
            tax += shop_money_at(sl, "tax_amount_set", currency)
            tax_known = True
            continue
        line = sl.get("shipping_line")
        line_taxes = [t for t in list_at(line, "tax_lines") if isinstance(t, Mapping)] if isinstance(line, Mapping) else []
        if line_taxes:
            assert isinstance(line, Mapping)
            full_tax = sum((amount_at(t, "price", currency) for t in line_taxes), Decimal("0.00"))
            charged = amount_at(line, "discounted_price", currency, default=amount_at(line, "price", currency, default=sub))
            # The shipping line's tax is for all of it: a partial shipping refund gives back its share.
            tax += full_tax if sub >= charged or not charged else (full_tax * sub / charged).quantize(CENT)
            tax_known = True
    return shipping, tax if tax_known else adj_tax, discrepancy


def _payments(o: Mapping[str, Any], transactions: Mapping[str, Any], total_price: Decimal, currency: str,
              presentment: str, problems: list[str]) -> tuple[Payment, ...]:
    """Money received by gateway: successful sales and captures (refunds are kept per refund)."""
    by_gateway: dict[str, Decimal] = {}
    foreign: list[str] = []
    for t in (transactions or {}).values():
        if not isinstance(t, Mapping) or t.get("status") != "success" or t.get("kind") not in ("sale", "capture"):
            continue
        value = money_at(t, "amount")
        if _foreign(t, currency):
            foreign.append(f"{value} {t.get('currency')}")
            continue
        gw = str(t.get("gateway") or "manual")
        by_gateway[gw] = by_gateway.get(gw, Decimal("0.00")) + value
    status = o.get("financial_status")
    if foreign and (by_gateway or status not in ("paid", "partially_refunded", "refunded")):
        problems.append(f"payments of {', '.join(foreign)} have no {currency} amount in Shopify's payload")
    if by_gateway:
        return tuple(Payment(g, a) for g, a in sorted(by_gateway.items()))
    # No usable transaction: what the order says it received, in shop money (total_price_set). A paid
    # order received its whole total however the buyer paid.
    if status in ("paid", "partially_paid", "partially_refunded", "refunded"):
        received = total_price
        if status == "partially_paid":
            if presentment != currency:
                problems.append(f"the order is partially paid and Shopify gives what is outstanding only as "
                                f"total_outstanding, which has no {currency} amount on an order in {presentment}")
            received = total_price - money_at(o, "total_outstanding", default=Decimal("0"))
        gateways = [g for g in list_at(o, "payment_gateway_names") if isinstance(g, str) and g] or ["manual"]
        if received > 0:
            return (Payment(gateways[0], received),)
    return ()


def _foreign(t: Mapping[str, Any], currency: str) -> bool:
    """A transaction whose `amount` is in another currency than the shop's (no `currency`: the shop's)."""
    code = t.get("currency")
    return isinstance(code, str) and bool(code) and code.upper() != currency


def shipping_charged(o: Mapping[str, Any], currency: str) -> Decimal:
    if isinstance(o.get("current_shipping_price_set"), Mapping) and \
            isinstance(o["current_shipping_price_set"].get("shop_money"), Mapping):
        return shop_money_at(o, "current_shipping_price_set", currency)
    total = Decimal("0.00")
    for sl in list_at(o, "shipping_lines"):
        if isinstance(sl, Mapping):
            key = "discounted_price" if (sl.get("discounted_price") is not None
                                         or isinstance(sl.get("discounted_price_set"), Mapping)) else "price"
            total += amount_at(sl, key, currency)
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

