"""A GraphQL `Order` node as the orders/* webhook body (REST Order resource) that the sync core parses.

One domain model from two sources: the fetched order becomes the same dict shape a webhook delivers, so
`ShopifyOrder.parse` (sync/model.py) and the inbox's merge rules treat it exactly like a webhook. Money
comes over as `*_set` bags (`shop_money` / `presentment_money`), which the parser prefers. Transactions,
which the order webhook does not carry, come back separately in the order_transactions/create shape;
their `amount` is the presentment amount with its currency, as REST gives it, so a buyer-currency order
is refused the same way whichever source it came from.
"""
from __future__ import annotations

from typing import Any, Mapping

from .errors import ShopifyOrderTooLarge


def legacy_id(gid: Any) -> int | None:
    """`gid://shopify/Order/123` → 123."""
    if not isinstance(gid, str):
        return None
    tail = gid.rsplit("/", 1)[-1].split("?", 1)[0]
    return int(tail) if tail.isdigit() else None


def _bag(node: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if not isinstance(node, Mapping):
        return None
    out: dict[str, Any] = {}
    for src, dst in (("shopMoney", "shop_money"), ("presentmentMoney", "presentment_money")):
        money = node.get(src)
        if isinstance(money, Mapping):
            out[dst] = {"amount": money.get("amount"), "currency_code": money.get("currencyCode")}
    return out


def _shop_amount(node: Mapping[str, Any] | None) -> Any:
    if isinstance(node, Mapping) and isinstance(node.get("shopMoney"), Mapping):
        return node["shopMoney"].get("amount")
    return None


def _money(out: dict[str, Any], key: str, node: Any) -> None:
    """`key` and `key_set` from a MoneyBag node; nothing when Shopify sent none."""
    if isinstance(node, Mapping):
        out[f"{key}_set"] = _bag(node)
        out[key] = _shop_amount(node)


def _nodes(conn: Any) -> list[Any]:
    if isinstance(conn, Mapping):
        nodes = conn.get("nodes")
        if nodes is None and isinstance(conn.get("edges"), list):
            nodes = [e.get("node") for e in conn["edges"] if isinstance(e, Mapping)]
        return list(nodes or [])
    return list(conn or []) if isinstance(conn, list) else []


def _lower(value: Any) -> Any:
    return value.lower() if isinstance(value, str) else value


def _tax_lines(lines: Any) -> list[dict[str, Any]]:
    out = []
    for t in lines or []:
        if isinstance(t, Mapping):
            d = {"title": t.get("title"), "rate": t.get("rate")}
            _money(d, "price", t.get("priceSet"))
            out.append(d)
    return out


def _address(a: Any) -> dict[str, Any] | None:
    if not isinstance(a, Mapping):
        return None
    return {"first_name": a.get("firstName"), "last_name": a.get("lastName"), "address1": a.get("address1"),
            "address2": a.get("address2"), "city": a.get("city"), "province": a.get("province"),
            "province_code": a.get("provinceCode"), "zip": a.get("zip"), "country": a.get("country"),
            "country_code": a.get("countryCodeV2"), "phone": a.get("phone")}


def transaction_from_graphql(t: Mapping[str, Any], order_id: int | None) -> dict[str, Any]:
    amount = t.get("amountSet") if isinstance(t.get("amountSet"), Mapping) else {}
    money = amount.get("presentmentMoney") if isinstance(amount.get("presentmentMoney"), Mapping) else \
        amount.get("shopMoney") if isinstance(amount.get("shopMoney"), Mapping) else {}
    out = {"id": legacy_id(t.get("id")), "admin_graphql_api_id": t.get("id"), "order_id": order_id,
           "kind": _lower(t.get("kind")), "status": _lower(t.get("status")), "gateway": t.get("gateway"),
           "amount": money.get("amount"), "currency": money.get("currencyCode")}
    if t.get("processedAt") is not None:
        out["processed_at"] = t.get("processedAt")
    return out


def _refund(r: Mapping[str, Any], order_id: int | None, operation: str) -> dict[str, Any]:
    conn = r.get("refundLineItems")
    if isinstance(conn, Mapping) and isinstance(conn.get("pageInfo"), Mapping) and conn["pageInfo"].get("hasNextPage"):
        raise ShopifyOrderTooLarge(f"refund {r.get('id')} has more lines than one query reads", operation=operation)
    lines = []
    for rl in _nodes(conn):
        line = rl.get("lineItem") if isinstance(rl.get("lineItem"), Mapping) else {}
        d = {"line_item_id": legacy_id(line.get("id")), "quantity": rl.get("quantity"),
             "restock_type": _lower(rl.get("restockType"))}
        _money(d, "subtotal", rl.get("subtotalSet"))
        _money(d, "total_tax", rl.get("totalTaxSet"))
        lines.append(d)
    shipping = []
    for sl in _nodes(r.get("refundShippingLines")):
        shipping.append({"subtotal_amount_set": _bag(sl.get("subtotalAmountSet")),
                         "tax_amount_set": _bag(sl.get("taxAmountSet"))})
    adjustments = []
    for adj in _nodes(r.get("orderAdjustments")):
        # GraphQL keeps refunded shipping in refundShippingLines; every adjustment is a discrepancy.
        d = {"id": legacy_id(adj.get("id")), "kind": "refund_discrepancy", "reason": _lower(adj.get("reason"))}
        _money(d, "amount", adj.get("amountSet"))
        _money(d, "tax_amount", adj.get("taxAmountSet"))
        adjustments.append(d)
    return {"id": legacy_id(r.get("id")), "admin_graphql_api_id": r.get("id"), "order_id": order_id,
            "created_at": r.get("createdAt"), "note": r.get("note"), "refund_line_items": lines,
            "refund_shipping_lines": shipping, "order_adjustments": adjustments,
            "transactions": [transaction_from_graphql(t, order_id) for t in _nodes(r.get("transactions"))]}


def order_from_graphql(o: Mapping[str, Any], operation: str = "") -> tuple[dict[str, Any], dict[str, Any]]:
    """(the orders/* webhook-shaped snapshot, transaction id → order_transactions/create-shaped body)."""
    order_id = legacy_id(o.get("id"))
    conn = o.get("lineItems")
    if isinstance(conn, Mapping) and isinstance(conn.get("pageInfo"), Mapping) and conn["pageInfo"].get("hasNextPage"):
        raise ShopifyOrderTooLarge(f"order {o.get('name')} has more line items than one query reads",
                                   operation=operation)
    lines = []
    for li in _nodes(conn):
        d: dict[str, Any] = {"id": legacy_id(li.get("id")), "admin_graphql_api_id": li.get("id"),
                             "sku": li.get("sku"), "title": li.get("title"), "name": li.get("name"),
                             "quantity": li.get("quantity"), "current_quantity": li.get("currentQuantity")}
        if d["current_quantity"] is None:
            del d["current_quantity"]
        _money(d, "price", li.get("originalUnitPriceSet"))
        _money(d, "total_discount", li.get("totalDiscountSet"))
        d["discount_allocations"] = [{"amount": _shop_amount(a.get("allocatedAmountSet")),
                                      "amount_set": _bag(a.get("allocatedAmountSet"))}
                                     for a in li.get("discountAllocations") or [] if isinstance(a, Mapping)]
        d["tax_lines"] = _tax_lines(li.get("taxLines"))
        lines.append(d)
    shipping_lines = []
    for sl in _nodes(o.get("shippingLines")):
        d = {"id": legacy_id(sl.get("id")), "title": sl.get("title"), "code": sl.get("code"),
             "tax_lines": _tax_lines(sl.get("taxLines"))}
        _money(d, "price", sl.get("originalPriceSet"))
        _money(d, "discounted_price", sl.get("discountedPriceSet"))
        shipping_lines.append(d)
    customer = o.get("customer") if isinstance(o.get("customer"), Mapping) else None
    location = o.get("retailLocation") if isinstance(o.get("retailLocation"), Mapping) else {}
    snapshot: dict[str, Any] = {
        "id": order_id, "admin_graphql_api_id": o.get("id"), "name": o.get("name"),
        "email": o.get("email"), "phone": o.get("phone"),
        "created_at": o.get("createdAt"), "updated_at": o.get("updatedAt"), "processed_at": o.get("processedAt"),
        "cancelled_at": o.get("cancelledAt"), "cancel_reason": _lower(o.get("cancelReason")),
        "closed_at": o.get("closedAt"), "test": bool(o.get("test")), "note": o.get("note"),
        "currency": o.get("currencyCode"), "presentment_currency": o.get("presentmentCurrencyCode"),
        "taxes_included": bool(o.get("taxesIncluded")),
        "tags": ", ".join(t for t in o.get("tags") or [] if isinstance(t, str)),
        "financial_status": _lower(o.get("displayFinancialStatus")),
        "payment_gateway_names": list(o.get("paymentGatewayNames") or []),
        "note_attributes": [{"name": a.get("key"), "value": a.get("value")}
                            for a in o.get("customAttributes") or [] if isinstance(a, Mapping)],
        "location_id": legacy_id(location.get("id")),
        "customer": None if customer is None else {
            "id": legacy_id(customer.get("id")), "first_name": customer.get("firstName"),
            "last_name": customer.get("lastName"),
            "email": (customer.get("defaultEmailAddress") or {}).get("emailAddress"),
            "phone": (customer.get("defaultPhoneNumber") or {}).get("phoneNumber")},
        "billing_address": _address(o.get("billingAddress")),
        "shipping_address": _address(o.get("shippingAddress")),
        "line_items": lines, "shipping_lines": shipping_lines,
        "refunds": [_refund(r, order_id, operation) for r in o.get("refunds") or [] if isinstance(r, Mapping)],
    }
    for key, field in (("total_price", "totalPriceSet"), ("subtotal_price", "subtotalPriceSet"),
                       ("total_tax", "totalTaxSet"), ("total_discounts", "totalDiscountsSet"),
                       ("total_outstanding", "totalOutstandingSet"), ("current_total_price", "currentTotalPriceSet"),
                       ("current_subtotal_price", "currentSubtotalPriceSet"),
                       ("current_total_tax", "currentTotalTaxSet")):
        _money(snapshot, key, o.get(field))
    if isinstance(o.get("currentShippingPriceSet"), Mapping):
        snapshot["current_shipping_price_set"] = _bag(o["currentShippingPriceSet"])
    transactions = {}
    for t in o.get("transactions") or []:
        if isinstance(t, Mapping):
            body = transaction_from_graphql(t, order_id)
            if body["id"] is not None:
                transactions[str(body["id"])] = body
    return snapshot, transactions
