"""`ShopifyPort` over the GraphQL Admin API: all GraphQL ↔ domain translation for Shopify lives here."""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Mapping

from mortard.sync.ports import FetchedOrder, OrderStamp, OrderStampPage, WebhookSubscription

from . import _queries as q
from ._mapping import legacy_id, order_from_graphql
from .client import ShopifyClient
from .errors import ShopifyQueryError, ShopifyUserError


# 50 pages of 100 lines: an order longer than that is refused rather than read without end.
MAX_LINE_PAGES = 49


def topic_enum(topic: str) -> str:
    """`orders/create` → `ORDERS_CREATE` (WebhookSubscriptionTopic)."""
    return topic.upper().replace("/", "_")


def topic_name(enum: str) -> str:
    """`ORDERS_CREATE` → `orders/create`; the first underscore that splits a resource from its verb.
    Resources with underscores (order_transactions, fulfillment_orders) are known by name."""
    lowered = enum.lower()
    for resource in ("order_transactions", "fulfillment_orders", "reverse_fulfillment_orders", "app_subscriptions"):
        if lowered.startswith(resource + "_"):
            return f"{resource}/{lowered[len(resource) + 1:]}"
    head, _, tail = lowered.partition("_")
    return f"{head}/{tail}" if tail else head


def _time(value: Any) -> datetime:
    t = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return (t if t.tzinfo else t.replace(tzinfo=timezone.utc)).astimezone(timezone.utc)


def _stamp_query(since: datetime) -> str:
    return f"updated_at:>='{since.astimezone(timezone.utc).strftime('%Y-%m-%dT%H:%M:%SZ')}'"


class ShopifyGateway:
    def __init__(self, client: ShopifyClient) -> None:
        self.client = client

    @property
    def shop(self) -> str:
        return self.client.shop.domain

    async def orders_updated_since(self, since: datetime, cursor: str | None, page_size: int) -> OrderStampPage:
        data = await self.client.execute(q.ORDERS_UPDATED_SINCE, {"first": page_size, "after": cursor,
                                                                   "query": _stamp_query(since)})
        conn = data.get("orders") or {}
        stamps = []
        for node in conn.get("nodes") or []:
            order_id = legacy_id(node.get("id"))
            if order_id is None or not node.get("updatedAt"):
                raise ShopifyQueryError(f"orders answered a node without id or updatedAt: {str(node)[:200]}",
                                        shop=self.shop, operation="MortardOrdersUpdatedSince")
            stamps.append(OrderStamp(order_id, str(node.get("name") or ""), _time(node["updatedAt"])))
        info = conn.get("pageInfo") or {}
        return OrderStampPage(tuple(stamps), info.get("endCursor") if info.get("hasNextPage") else None)

    async def order(self, order_id: int) -> FetchedOrder | None:
        data = await self.client.execute(q.ORDER_BY_ID, {"id": f"gid://shopify/Order/{order_id}"})
        return self._fetched(await self._all_lines(data.get("order")), "MortardOrder")

    async def order_by_name(self, name: str) -> FetchedOrder | None:
        wanted = name if name.startswith("#") else f"#{name}"
        data = await self.client.execute(q.ORDER_BY_NAME, {"query": f'name:"{wanted}"'})
        nodes = (data.get("orders") or {}).get("nodes") or []
        exact = [n for n in nodes if isinstance(n, Mapping) and n.get("name") == wanted]
        return self._fetched(await self._all_lines(exact[0]), "MortardOrderByName") if exact else None

    async def _all_lines(self, node: Any) -> Any:
        """The order with every line item: the pages after the first are read on, one query each."""
        if not isinstance(node, Mapping):
            return node
        conn = node.get("lineItems")
        info = conn.get("pageInfo") if isinstance(conn, Mapping) else None
        if not isinstance(info, Mapping) or not info.get("hasNextPage"):
            return node
        nodes = list(conn.get("nodes") or [])
        for _ in range(MAX_LINE_PAGES):
            if not info.get("endCursor"):
                raise ShopifyQueryError("lineItems says it has a next page but gives no cursor", shop=self.shop,
                                        operation="MortardOrderLineItems")
            data = await self.client.execute(q.ORDER_LINE_ITEMS, {"id": node.get("id"), "after": info["endCursor"]})
            page = (data.get("order") or {}).get("lineItems") or {}
            nodes.extend(page.get("nodes") or [])
            info = page.get("pageInfo") or {}
            if not info.get("hasNextPage"):
                return {**node, "lineItems": {"pageInfo": {"hasNextPage": False}, "nodes": nodes}}
        return node    # still more: the mapping refuses it as too large rather than storing it half-read

    def _fetched(self, node: Any, operation: str) -> FetchedOrder | None:
        if not isinstance(node, Mapping):
            return None
        snapshot, transactions = order_from_graphql(node, operation)
        if snapshot["id"] is None or not snapshot.get("updated_at"):
            raise ShopifyQueryError("the order has no id or updatedAt", shop=self.shop, operation=operation)
        return FetchedOrder(snapshot["id"], str(snapshot.get("name") or ""), _time(snapshot["updated_at"]),
                            snapshot, transactions)

    async def webhook_subscriptions(self) -> tuple[WebhookSubscription, ...]:
        out: list[WebhookSubscription] = []
        cursor = None
        while True:
            data = await self.client.execute(q.WEBHOOK_SUBSCRIPTIONS, {"first": 100, "after": cursor})
            conn = data.get("webhookSubscriptions") or {}
            out.extend(_subscription(n) for n in conn.get("nodes") or [] if isinstance(n, Mapping))
            info = conn.get("pageInfo") or {}
            if not info.get("hasNextPage"):
                return tuple(out)
            cursor = info.get("endCursor")

    async def create_webhook_subscription(self, topic: str, address: str) -> WebhookSubscription:
        data = await self.client.execute(q.WEBHOOK_SUBSCRIPTION_CREATE, {
            "topic": topic_enum(topic), "webhookSubscription": {"uri": address, "format": "JSON"}})
        payload = data.get("webhookSubscriptionCreate") or {}
        errors = payload.get("userErrors") or []
        if errors or not isinstance(payload.get("webhookSubscription"), Mapping):
            text = "; ".join(str(e.get("message")) for e in errors if isinstance(e, Mapping)) or "no subscription returned"
            raise ShopifyUserError(f"creating the {topic} subscription failed: {text}", shop=self.shop,
                                   operation="MortardWebhookSubscriptionCreate")
        return _subscription(payload["webhookSubscription"])


def _subscription(node: Mapping[str, Any]) -> WebhookSubscription:
    version = node.get("apiVersion") if isinstance(node.get("apiVersion"), Mapping) else {}
    return WebhookSubscription(id=str(node.get("id") or ""), topic=topic_name(str(node.get("topic") or "")),
                               address=str(node.get("uri") or ""), api_version=str(version.get("handle") or ""))
