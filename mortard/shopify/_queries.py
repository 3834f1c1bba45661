"""The GraphQL documents mortard sends to the Admin API, one per operation name.

Field names follow the GraphQL Admin API reference (Order, LineItem, Refund, RefundLineItem,
RefundShippingLine, OrderAdjustment, OrderTransaction, MoneyBag, WebhookSubscription). Connection
sizes keep one order's requested cost well under Shopify's 1000-point ceiling for a single query; an
order with more lines than `lineItems(first: 100)` reads is read on with `MortardOrderLineItems`,
a page at a time, before it is mapped; a refund with more lines than one page reads, or an order with
more refunds than `refunds(first: 10)` (a list, not a connection: it cannot be paged), is refused
(ShopifyOrderTooLarge) rather than stored half-read.
"""
from __future__ import annotations

LINE_ITEMS_FIRST = 100
REFUNDS_FIRST = 10

_BAG_AND_TAX = """
fragment MortardBag on MoneyBag {
  shopMoney { amount currencyCode }
  presentmentMoney { amount currencyCode }
}
fragment MortardTaxLine on TaxLine { title rate priceSet { ...MortardBag } }
"""
# GraphQL refuses a document with a fragment it doesn't use: the line-items query takes only these.
_LINE_FRAGMENTS = _BAG_AND_TAX + """
fragment MortardLineItem on LineItem {
  id sku title name quantity currentQuantity
  originalUnitPriceSet { ...MortardBag } totalDiscountSet { ...MortardBag }
  discountAllocations { allocatedAmountSet { ...MortardBag } }
  taxLines { ...MortardTaxLine }
}
"""
_FRAGMENTS = _LINE_FRAGMENTS + """
fragment MortardAddress on MailingAddress {
  firstName lastName address1 address2 city province provinceCode zip country countryCodeV2 phone
}
fragment MortardTransaction on OrderTransaction {
  id kind status gateway processedAt amountSet { ...MortardBag }
}
fragment MortardOrder on Order {
  id name email phone createdAt updatedAt processedAt cancelledAt cancelReason closedAt test note
  currencyCode presentmentCurrencyCode taxesIncluded tags displayFinancialStatus paymentGatewayNames
  customAttributes { key value }
  retailLocation { id }
  totalPriceSet { ...MortardBag } subtotalPriceSet { ...MortardBag } totalTaxSet { ...MortardBag }
  totalDiscountsSet { ...MortardBag } totalOutstandingSet { ...MortardBag }
  currentTotalPriceSet { ...MortardBag } currentSubtotalPriceSet { ...MortardBag }
  currentTotalTaxSet { ...MortardBag } currentShippingPriceSet { ...MortardBag }
  customer { id firstName lastName defaultEmailAddress { emailAddress } defaultPhoneNumber { phoneNumber } }
  billingAddress { ...MortardAddress }
  shippingAddress { ...MortardAddress }
  lineItems(first: %(lines)d) {
    pageInfo { hasNextPage endCursor }
    nodes { ...MortardLineItem }
  }
  shippingLines(first: 10) {
    nodes { id title code originalPriceSet { ...MortardBag } discountedPriceSet { ...MortardBag }
            taxLines { ...MortardTaxLine } }
  }
  refunds(first: %(refunds)d) {
    id createdAt note
    refundLineItems(first: 50) {
      pageInfo { hasNextPage }
      nodes { lineItem { id } quantity restockType subtotalSet { ...MortardBag } totalTaxSet { ...MortardBag } }
    }
    refundShippingLines(first: 5) { nodes { subtotalAmountSet { ...MortardBag } taxAmountSet { ...MortardBag } } }
    orderAdjustments(first: 5) { nodes { id reason amountSet { ...MortardBag } taxAmountSet { ...MortardBag } } }
    transactions(first: 5) { nodes { ...MortardTransaction } }
  }
  transactions(first: 20) { ...MortardTransaction }
}
""" % {"lines": LINE_ITEMS_FIRST, "refunds": REFUNDS_FIRST}

# The reconciliation list reads only ids and stamps (cheap); whole orders are fetched one by one, and
# only those mortard has not stored.
ORDERS_UPDATED_SINCE = """
query MortardOrdersUpdatedSince($first: Int!, $after: String, $query: String!) {
  orders(first: $first, after: $after, query: $query, sortKey: UPDATED_AT) {
    pageInfo { hasNextPage endCursor }
    nodes { id name updatedAt }
  }
}
"""

ORDER_BY_ID = """
query MortardOrder($id: ID!) {
  order(id: $id) { ...MortardOrder }
}
""" + _FRAGMENTS

ORDER_BY_NAME = """
query MortardOrderByName($query: String!) {
  orders(first: 1, query: $query) { nodes { ...MortardOrder } }
}
""" + _FRAGMENTS

# The rest of a long order's lines, after the first page the order query read.
ORDER_LINE_ITEMS = """
query MortardOrderLineItems($id: ID!, $after: String) {
  order(id: $id) {
    lineItems(first: %(lines)d, after: $after) {
      pageInfo { hasNextPage endCursor }
      nodes { ...MortardLineItem }
    }
  }
}
""" % {"lines": LINE_ITEMS_FIRST} + _LINE_FRAGMENTS

WEBHOOK_SUBSCRIPTIONS = """
query MortardWebhookSubscriptions($first: Int!, $after: String) {
  webhookSubscriptions(first: $first, after: $after) {
    pageInfo { hasNextPage endCursor }
    nodes { id topic uri apiVersion { handle } }
  }
}
"""

WEBHOOK_SUBSCRIPTION_CREATE = """
mutation MortardWebhookSubscriptionCreate($topic: WebhookSubscriptionTopic!, $webhookSubscription: WebhookSubscriptionInput!) {
  webhookSubscriptionCreate(topic: $topic, webhookSubscription: $webhookSubscription) {
    webhookSubscription { id topic uri apiVersion { handle } }
    userErrors { field message }
  }
}
"""


def operation_name(document: str) -> str:
    """The operation name of one of the documents above (`MortardOrder`, ...)."""
    for word in ("query ", "mutation "):
        at = document.find(word)
        if at >= 0:
            rest = document[at + len(word):]
            return rest.split("(", 1)[0].split("{", 1)[0].strip()
    return "anonymous"
