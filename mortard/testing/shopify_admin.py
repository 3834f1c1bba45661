"""A Shopify Admin API sandbox: a real aiohttp server answering the GraphQL documents mortard sends.

It holds, per shop, the orders as their webhook bodies (and transactions), renders them as GraphQL
(`shopify_graphql.render_order`), meters every call with Shopify's leaky bucket (`extensions.cost`,
THROTTLED when a query's requested cost exceeds what is available), and injects faults (5xx answers,
THROTTLED, latency). Operations are told apart by the operation name mortard gives each document
(mortard/shopify/_queries.py); anything else is refused as a GraphQL error, as a schema would.

Use in-process: `async with ShopifyAdminSandbox() as sb:` then `sb.url`, `sb.put_order(shop, body)`.
"""
from __future__ import annotations

import asyncio
import base64
import itertools
import json
import re
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Mapping

from aiohttp import web

from .shopify_graphql import render_order

TOKEN = "shpat_sandbox"
_PATH = re.compile(r"^/(?P<shop>[^/]+)/admin/api/(?P<version>[^/]+)/graphql\.json$")
_SINCE = re.compile(r"updated_at:>=\s*'?(?P<t>[0-9T:\-+.Z]+)'?")
_NAME = re.compile(r"""name:\s*['"]?(?P<n>[^'"\s]+)['"]?""")
TOPICS = {"ORDERS_CREATE", "ORDERS_UPDATED", "ORDERS_PAID", "ORDERS_CANCELLED", "ORDERS_EDITED",
          "REFUNDS_CREATE", "ORDER_TRANSACTIONS_CREATE", "ORDERS_FULFILLED", "ORDERS_DELETE"}


def _utc(value: str) -> datetime:
    t = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return (t if t.tzinfo else t.replace(tzinfo=timezone.utc)).astimezone(timezone.utc)


@dataclass
class Bucket:
    maximum: float = 1000.0
    restore_rate: float = 50.0
    available: float = 1000.0
    at: float = field(default_factory=time.monotonic)

    def level(self) -> float:
        now = time.monotonic()
        self.available = min(self.maximum, self.available + (now - self.at) * self.restore_rate)
        self.at = now
        return self.available

    def status(self) -> dict[str, float]:
        return {"maximumAvailable": self.maximum, "currentlyAvailable": round(self.level(), 1),
                "restoreRate": self.restore_rate}


@dataclass
class ShopState:
    token: str = TOKEN
    orders: dict[int, dict[str, Any]] = field(default_factory=dict)
    transactions: dict[int, dict[str, Any]] = field(default_factory=dict)
    subscriptions: dict[str, dict[str, Any]] = field(default_factory=dict)
    bucket: Bucket = field(default_factory=Bucket)
    fail_next: list[int] = field(default_factory=list)     # HTTP statuses to answer next, in order
    throttle_next: int = 0                                 # answers to give as THROTTLED regardless
    latency_s: float = 0.0
    calls: dict[str, int] = field(default_factory=dict)
    # The app's configured Webhooks API version. Shopify: a subscription's apiVersion "is inherited from
    # the app that created the webhook subscription"; it can't be set per subscription, whatever
    # version the creating request used.
    webhooks_api_version: str = "2026-10"
    throttled: int = 0
    cost_used: float = 0.0


class ShopifyAdminSandbox:
    def __init__(self, shops: Mapping[str, str] | None = None) -> None:
        self.shops: dict[str, ShopState] = {}
        for shop, token in (shops or {}).items():
            self.shop(shop).token = token
        self._ids = itertools.count(1)
        self._runner: web.AppRunner | None = None
        self._document = ""
        self.url = ""

    # -- state ---------------------------------------------------------------------------------
    def shop(self, domain: str) -> ShopState:
        return self.shops.setdefault(domain, ShopState())

    def put_order(self, shop: str, body: Mapping[str, Any], transactions: Mapping[str, Any] | None = None) -> None:
        """Store (or replace) an order as its orders/* webhook body shows it; merge its transactions."""
        state = self.shop(shop)
        order_id = int(body["id"])
        state.orders[order_id] = json.loads(json.dumps(dict(body)))
        txns = state.transactions.setdefault(order_id, {})
        for key, t in (transactions or {}).items():
            txns[str(key)] = dict(t)

    def put_refund(self, shop: str, refund: Mapping[str, Any]) -> None:
        state = self.shop(shop)
        order = state.orders[int(refund["order_id"])]
        order["refunds"] = [r for r in order.get("refunds") or [] if r.get("id") != refund["id"]] + [dict(refund)]

    def put_subscription(self, shop: str, topic: str, uri: str, api_version: str = "2026-10") -> str:
        sub_id = f"gid://shopify/WebhookSubscription/{next(self._ids)}"
        self.shop(shop).subscriptions[sub_id] = {"id": sub_id, "topic": topic, "uri": uri,
                                                 "apiVersion": {"handle": api_version}}
        return sub_id

    def delete_subscription(self, shop: str, topic: str) -> int:
        """What Shopify does after repeated failed deliveries: the subscription is gone."""
        subs = self.shop(shop).subscriptions
        gone = [k for k, s in subs.items() if s["topic"] == topic]
        for k in gone:
            del subs[k]
        return len(gone)

    # -- server --------------------------------------------------------------------------------
    async def start(self, host: str = "127.0.0.1", port: int = 0) -> ShopifyAdminSandbox:
        app = web.Application()
        app.router.add_post("/{shop}/admin/api/{version}/graphql.json", self._graphql)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        bound = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://{host}:{bound}"
        return self

    def admin_url(self, shop: str, api_version: str = "2026-10") -> str:
        return f"{self.url}/{shop}/admin/api/{api_version}/graphql.json"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> ShopifyAdminSandbox:
        return await self.start()

    async def __aexit__(self, *exc: Any) -> None:
        await self.stop()

    async def _graphql(self, request: web.Request) -> web.Response:
        domain = request.match_info["shop"]
        version = request.match_info["version"]
        state = self.shops.get(domain)
        if state is None:
            return web.json_response({"errors": "Not Found"}, status=404)
        if request.headers.get("X-Shopify-Access-Token") != state.token:
            return web.json_response({"errors": "[API] Invalid API key or access token (unrecognized login or "
                                                "wrong password)"}, status=401)
        if state.latency_s:
            await asyncio.sleep(state.latency_s)
        if state.fail_next:
            status = state.fail_next.pop(0)
            return web.json_response({"errors": "Internal Server Error"}, status=status)
        try:
            body = await request.json()
            document = str(body["query"])
            variables = body.get("variables") or {}
        except (ValueError, KeyError, TypeError):
            return web.json_response({"errors": [{"message": "Bad request: expected {query, variables}"}]},
                                     status=400)
        m = re.search(r"\b(query|mutation)\s+(\w+)", document)
        operation = m.group(2) if m else ""
        handler = _HANDLERS.get(operation)
        if handler is None:
            return web.json_response({"errors": [{"message": f"unknown operation {operation!r}",
                                                  "extensions": {"code": "undefinedField"}}]})
        requested = _REQUESTED[operation](variables)
        if requested > state.bucket.maximum:
            return web.json_response({"errors": [{"message": f"Query cost is {requested:.0f}, which exceeds the "
                                                  f"single query max cost limit ({state.bucket.maximum:.0f}).",
                                                  "extensions": {"code": "MAX_COST_EXCEEDED"}}]})
        if state.throttle_next or requested > state.bucket.level():
            state.throttle_next = max(0, state.throttle_next - 1)
            state.throttled += 1
            return web.json_response({"errors": [{"message": "Throttled", "extensions": {
                "code": "THROTTLED", "documentation": "https://shopify.dev/api/usage/rate-limits"}}],
                "extensions": {"cost": {"requestedQueryCost": requested, "actualQueryCost": None,
                                        "throttleStatus": state.bucket.status()}}})
        state.calls[operation] = state.calls.get(operation, 0) + 1
        self._document = document
        data, actual = handler(self, state, variables, version)
        state.bucket.available -= actual
        state.cost_used += actual
        return web.json_response({"data": data, "extensions": {"cost": {
            "requestedQueryCost": requested, "actualQueryCost": actual, "throttleStatus": state.bucket.status()}}})

    # -- operations ----------------------------------------------------------------------------
    def _sorted(self, state: ShopState) -> list[dict[str, Any]]:
        return sorted(state.orders.values(), key=lambda o: (_utc(o["updated_at"]), o["id"]))

    def _orders_since(self, state: ShopState, v: Mapping[str, Any], version: str) -> tuple[dict[str, Any], float]:
        m = _SINCE.search(str(v.get("query") or ""))
        since = _utc(m.group("t")) if m else None
        rows = [o for o in self._sorted(state) if since is None or _utc(o["updated_at"]) >= since]
        start = int(base64.b64decode(v["after"]).decode()) if v.get("after") else 0
        first = int(v.get("first") or 50)
        page = rows[start:start + first]
        end = start + len(page)
        nodes = [{"id": f"gid://shopify/Order/{o['id']}", "name": o.get("name"),
                  "updatedAt": render_order(o)["updatedAt"]} for o in page]
        return ({"orders": {"pageInfo": {"hasNextPage": end < len(rows),
                                         "endCursor": base64.b64encode(str(end).encode()).decode() if page else None},
                            "nodes": nodes}}, 2.0 + len(page) * 0.5)

    def _order(self, state: ShopState, v: Mapping[str, Any], version: str) -> tuple[dict[str, Any], float]:
        tail = str(v.get("id") or "").rsplit("/", 1)[-1]
        order = state.orders.get(int(tail)) if tail.isdigit() else None
        if order is None:
            return {"order": None}, 1.0
        return {"order": self._paged(render_order(order, state.transactions.get(order["id"])))}, _order_cost(order)

    def _order_by_name(self, state: ShopState, v: Mapping[str, Any], version: str) -> tuple[dict[str, Any], float]:
        m = _NAME.search(str(v.get("query") or ""))
        found = [o for o in self._sorted(state) if m and o.get("name") == m.group("n")][:1]
        return ({"orders": {"nodes": [self._paged(render_order(o, state.transactions.get(o["id"]))) for o in found]}},
                sum(_order_cost(o) for o in found) + 2.0)

    def _paged(self, node: dict[str, Any], after: Any = None) -> dict[str, Any]:
        """Honour the document's `lineItems(first: N, after: C)`: a longer order says it has a next page."""
        m = re.search(r"lineItems\(first:\s*(\d+)", self._document)
        first = int(m.group(1)) if m else 250
        start = int(base64.b64decode(after).decode()) if after else 0
        lines = node["lineItems"]["nodes"]
        end = min(len(lines), start + first)
        node["lineItems"] = {"pageInfo": {"hasNextPage": end < len(lines),
                                          "endCursor": base64.b64encode(str(end).encode()).decode()},
                             "nodes": lines[start:end]}
        return node

    def _order_line_items(self, state: ShopState, v: Mapping[str, Any], version: str) -> tuple[dict[str, Any], float]:
        tail = str(v.get("id") or "").rsplit("/", 1)[-1]
        order = state.orders.get(int(tail)) if tail.isdigit() else None
        if order is None:
            return {"order": None}, 1.0
        node = self._paged(render_order(order, state.transactions.get(order["id"])), v.get("after"))
        return {"order": {"lineItems": node["lineItems"]}}, 2.0 + len(node["lineItems"]["nodes"])

    def _subscriptions(self, state: ShopState, v: Mapping[str, Any], version: str) -> tuple[dict[str, Any], float]:
        nodes = list(state.subscriptions.values())
        return {"webhookSubscriptions": {"pageInfo": {"hasNextPage": False, "endCursor": None},
                                         "nodes": nodes}}, 2.0 + len(nodes) * 0.2

    def _create_subscription(self, state: ShopState, v: Mapping[str, Any], version: str) -> tuple[dict[str, Any], float]:
        topic = str(v.get("topic") or "")
        uri = str((v.get("webhookSubscription") or {}).get("uri") or "")
        errors = []
        if topic not in TOPICS:
            errors.append({"field": ["topic"], "message": f"Topic {topic!r} is not valid"})
        if not uri.startswith(("https://", "http://127.0.0.1", "http://localhost")):
            errors.append({"field": ["webhookSubscription", "uri"], "message": "Address protocol is not supported"})
        if any(s["topic"] == topic and s["uri"] == uri for s in state.subscriptions.values()):
            errors.append({"field": ["webhookSubscription", "uri"], "message": "Address for this topic has already been taken"})
        if errors:
            return {"webhookSubscriptionCreate": {"webhookSubscription": None, "userErrors": errors}}, 10.0
        sub_id = f"gid://shopify/WebhookSubscription/{next(self._ids)}"
        sub = {"id": sub_id, "topic": topic, "uri": uri, "apiVersion": {"handle": state.webhooks_api_version}}
        state.subscriptions[sub_id] = sub
        return {"webhookSubscriptionCreate": {"webhookSubscription": sub, "userErrors": []}}, 10.0


def _order_cost(order: Mapping[str, Any]) -> float:
    return 5.0 + len(order.get("line_items") or []) + 3.0 * len(order.get("refunds") or [])


_HANDLERS = {
    "MortardOrdersUpdatedSince": ShopifyAdminSandbox._orders_since,
    "MortardOrder": ShopifyAdminSandbox._order,
    "MortardOrderByName": ShopifyAdminSandbox._order_by_name,
    "MortardOrderLineItems": ShopifyAdminSandbox._order_line_items,
    "MortardWebhookSubscriptions": ShopifyAdminSandbox._subscriptions,
    "MortardWebhookSubscriptionCreate": ShopifyAdminSandbox._create_subscription,
}
# Requested (worst-case) cost by operation, as Shopify computes it from connection sizes before running.
_REQUESTED = {
    "MortardOrdersUpdatedSince": lambda v: 2.0 + int(v.get("first") or 50),
    "MortardOrder": lambda v: 620.0,
    "MortardOrderByName": lambda v: 622.0,
    "MortardOrderLineItems": lambda v: 302.0,
    "MortardWebhookSubscriptions": lambda v: 2.0 + int(v.get("first") or 50),
    "MortardWebhookSubscriptionCreate": lambda v: 10.0,
}
