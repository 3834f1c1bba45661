"""A stored order (the orders/* webhook body, REST shape) rendered as the GraphQL Admin API's `Order`.

The Shopify Admin sandbox answers from the same payloads the webhook builders (testing/shopify.py) make
and the fixtures hold, so both sources describe one order. GraphQL fields are always present where the
reference marks them non-null; where the REST body lacks a figure, the figure Shopify would report is
worked out the way the REST resource defines it (e.g. `currentQuantity` = quantity − refunded units).
"""
from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal
from typing import Any, Mapping

from mortard.sync.model.order import InvalidOrder, refund_adjustments, shipping_charged


def gid(kind: str, value: Any) -> str | None:
    return None if value is None else f"gid://shopify/{kind}/{value}"


def money_bag(amount: Any, currency: str, presentment: Any = None, presentment_currency: str | None = None) -> dict[str, Any]:
    return {"shopMoney": {"amount": None if amount is None else str(amount), "currencyCode": currency},
            "presentmentMoney": {"amount": str(presentment if presentment is not None else amount)
                                 if (presentment is not None or amount is not None) else None,
                                 "currencyCode": presentment_currency or currency}}


def _bag_of(o: Mapping[str, Any], key: str, currency: str, default: Any = None) -> dict[str, Any] | None:
    """`key_set` as a MoneyBag, else the plain `key` amount in shop money; None when neither is there."""
    bag = o.get(f"{key}_set")
    if isinstance(bag, Mapping) and isinstance(bag.get("shop_money"), Mapping):
        shop = bag["shop_money"]
        pres = bag.get("presentment_money") if isinstance(bag.get("presentment_money"), Mapping) else shop
        return {"shopMoney": {"amount": shop.get("amount"), "currencyCode": shop.get("currency_code") or currency},
                "presentmentMoney": {"amount": pres.get("amount"),
                                     "currencyCode": pres.get("currency_code") or currency}}
    value = o.get(key)
    if value is None or value == "":
        return None if default is None else money_bag(default, currency)
    return money_bag(value, currency)


def _when(value: Any) -> Any:
    if not isinstance(value, str):
        return value
    try:
        t = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return value
    t = t if t.tzinfo else t.replace(tzinfo=timezone.utc)
    return t.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


def _upper(value: Any) -> Any:
    return value.upper() if isinstance(value, str) else value


def _tax_lines(lines: Any, currency: str) -> list[dict[str, Any]]:
    return [{"title": t.get("title"), "rate": t.get("rate"), "priceSet": _bag_of(t, "price", currency)}
            for t in lines or [] if isinstance(t, Mapping)]


def _address(a: Any) -> dict[str, Any] | None:
    if not isinstance(a, Mapping):
        return None
    return {"firstName": a.get("first_name"), "lastName": a.get("last_name"), "address1": a.get("address1"),
            "address2": a.get("address2"), "city": a.get("city"), "province": a.get("province"),
            "provinceCode": a.get("province_code"), "zip": a.get("zip"), "country": a.get("country"),
            "countryCodeV2": a.get("country_code"), "phone": a.get("phone")}


def render_transaction(t: Mapping[str, Any], currency: str) -> dict[str, Any]:
    code = t.get("currency") or currency
    amount = t.get("amount")
    return {"id": gid("OrderTransaction", t.get("id")), "kind": _upper(t.get("kind")),
            "status": _upper(t.get("status")) or "SUCCESS", "gateway": t.get("gateway"),
            "processedAt": _when(t.get("processed_at")),
            "amountSet": {"shopMoney": {"amount": None if amount is None else str(amount), "currencyCode": currency},
                          "presentmentMoney": {"amount": None if amount is None else str(amount),
                                               "currencyCode": code}}}


def _refund(r: Mapping[str, Any], currency: str) -> dict[str, Any]:
    try:
        shipping, shipping_tax, _ = refund_adjustments(r, int(r.get("id") or 0), currency)
    except (InvalidOrder, KeyError, TypeError, ValueError, ArithmeticError):
        shipping = shipping_tax = None
    had_shipping = bool(r.get("refund_shipping_lines")) or any(
        isinstance(a, Mapping) and a.get("kind") == "shipping_refund" for a in r.get("order_adjustments") or [])
    shipping_lines = ([{"subtotalAmountSet": money_bag(shipping, currency), "taxAmountSet": money_bag(shipping_tax, currency)}]
                      if had_shipping and shipping is not None else [])
    return {
        "id": gid("Refund", r.get("id")), "createdAt": _when(r.get("created_at")), "note": r.get("note"),
        "refundLineItems": {"pageInfo": {"hasNextPage": False}, "nodes": [
            {"lineItem": {"id": gid("LineItem", rl.get("line_item_id"))}, "quantity": rl.get("quantity"),
             "restockType": _upper(rl.get("restock_type")) or "NO_RESTOCK",
             "subtotalSet": _bag_of(rl, "subtotal", currency, Decimal("0.00")),
             "totalTaxSet": _bag_of(rl, "total_tax", currency, Decimal("0.00"))}
            for rl in r.get("refund_line_items") or [] if isinstance(rl, Mapping)]},
        "refundShippingLines": {"nodes": shipping_lines},
        "orderAdjustments": {"nodes": [
            {"id": gid("OrderAdjustment", a.get("id")), "reason": "REFUND_DISCREPANCY",
             "amountSet": _bag_of(a, "amount", currency, Decimal("0.00")),
             "taxAmountSet": _bag_of(a, "tax_amount", currency, Decimal("0.00"))}
            for a in r.get("order_adjustments") or [] if isinstance(a, Mapping) and a.get("kind") != "shipping_refund"]},
        "transactions": {"nodes": [render_transaction(t, currency) for t in r.get("transactions") or []
                                   if isinstance(t, Mapping)]},
    }


def render_order(o: Mapping[str, Any], transactions: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The GraphQL `Order` for a stored REST order body and its transactions (id → REST transaction)."""
    currency = str(o.get("currency") or "USD")
    presentment = str(o.get("presentment_currency") or currency)
    refunded: dict[Any, int] = {}
    for r in o.get("refunds") or []:
        for rl in (r.get("refund_line_items") or []) if isinstance(r, Mapping) else []:
            if isinstance(rl, Mapping) and isinstance(rl.get("quantity"), int):
                refunded[rl.get("line_item_id")] = refunded.get(rl.get("line_item_id"), 0) + rl["quantity"]
    lines = []
    for li in o.get("line_items") or []:
        if not isinstance(li, Mapping):
            continue
        current = li.get("current_quantity")
        if current is None and isinstance(li.get("quantity"), int):
            current = max(0, li["quantity"] - refunded.get(li.get("id"), 0))
        lines.append({
            "id": gid("LineItem", li.get("id")), "sku": li.get("sku"), "title": li.get("title"), "name": li.get("name"),
            "quantity": li.get("quantity"), "currentQuantity": current,
            "originalUnitPriceSet": _bag_of(li, "price", currency),
            "totalDiscountSet": _bag_of(li, "total_discount", currency),
            "discountAllocations": [{"allocatedAmountSet": _bag_of(d, "amount", currency)}
                                    for d in li.get("discount_allocations") or [] if isinstance(d, Mapping)],
            "taxLines": _tax_lines(li.get("tax_lines"), currency),
        })
    try:
        current_shipping: Any = shipping_charged(o, currency)
    except (InvalidOrder, KeyError, TypeError, ValueError, ArithmeticError):
        current_shipping = None
    customer = o.get("customer") if isinstance(o.get("customer"), Mapping) else None
    total = _bag_of(o, "total_price", currency)
    return {
        "id": gid("Order", o.get("id")), "name": o.get("name"), "email": o.get("email") or o.get("contact_email"),
        "phone": o.get("phone"), "createdAt": _when(o.get("created_at")), "updatedAt": _when(o.get("updated_at")),
        "processedAt": _when(o.get("processed_at")), "cancelledAt": _when(o.get("cancelled_at")),
        "cancelReason": _upper(o.get("cancel_reason")), "closedAt": _when(o.get("closed_at")),
        "test": bool(o.get("test")), "note": o.get("note"), "currencyCode": currency,
        "presentmentCurrencyCode": presentment, "taxesIncluded": bool(o.get("taxes_included")),
        "tags": [t.strip() for t in str(o.get("tags") or "").split(",") if t.strip()],
        "displayFinancialStatus": _upper(o.get("financial_status")),
        "paymentGatewayNames": list(o.get("payment_gateway_names") or []),
        "customAttributes": [{"key": a.get("name"), "value": a.get("value")}
                             for a in o.get("note_attributes") or [] if isinstance(a, Mapping)],
        "retailLocation": {"id": gid("Location", o["location_id"])} if o.get("location_id") is not None else None,
        "totalPriceSet": total,
        "subtotalPriceSet": _bag_of(o, "subtotal_price", currency),
        "totalTaxSet": _bag_of(o, "total_tax", currency),
        "totalDiscountsSet": _bag_of(o, "total_discounts", currency),
        "totalOutstandingSet": _bag_of(o, "total_outstanding", currency),
        "currentTotalPriceSet": _bag_of(o, "current_total_price", currency) or total,
        "currentSubtotalPriceSet": _bag_of(o, "current_subtotal_price", currency),
        "currentTotalTaxSet": _bag_of(o, "current_total_tax", currency) or _bag_of(o, "total_tax", currency,
                                                                                   Decimal("0")),
        "currentShippingPriceSet": None if current_shipping is None else money_bag(current_shipping, currency),
        "customer": None if customer is None else {
            "id": gid("Customer", customer.get("id")), "firstName": customer.get("first_name"),
            "lastName": customer.get("last_name"),
            "defaultEmailAddress": {"emailAddress": customer["email"]} if customer.get("email") else None,
            "defaultPhoneNumber": {"phoneNumber": customer["phone"]} if customer.get("phone") else None},
        "billingAddress": _address(o.get("billing_address")),
        "shippingAddress": _address(o.get("shipping_address")),
        "lineItems": {"pageInfo": {"hasNextPage": False}, "nodes": lines},
        "shippingLines": {"nodes": [
            {"id": gid("ShippingLine", sl.get("id")), "title": sl.get("title"), "code": sl.get("code"),
             "originalPriceSet": _bag_of(sl, "price", currency),
             "discountedPriceSet": _bag_of(sl, "discounted_price", currency),
             "taxLines": _tax_lines(sl.get("tax_lines"), currency)}
            for sl in o.get("shipping_lines") or [] if isinstance(sl, Mapping)]},
        "refunds": [_refund(r, currency) for r in o.get("refunds") or [] if isinstance(r, Mapping)],
        "transactions": [render_transaction(t, currency) for t in (transactions or {}).values()
                         if isinstance(t, Mapping)],
    }


def sale_transaction(order: Mapping[str, Any]) -> dict[str, Any] | None:
    """The sale a paid builder order was paid with (order_transactions/create shape), else None."""
    if order.get("financial_status") not in ("paid", "partially_refunded", "refunded"):
        return None
    gateways = order.get("payment_gateway_names") or ["manual"]
    return {"id": int(order["id"]) * 10 + 7, "order_id": order["id"], "kind": "sale", "status": "success",
            "amount": order.get("total_price"), "currency": order.get("currency") or "USD",
            "gateway": gateways[0], "processed_at": order.get("processed_at") or order.get("created_at")}
