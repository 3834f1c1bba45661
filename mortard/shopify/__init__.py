"""The Shopify GraphQL Admin API client: one shop, one pinned API version, cost-based throttling.

`ShopifyGateway` implements the sync core's `ShopifyPort` (mortard/sync/ports.py); the core never sees
GraphQL. `order_from_graphql` maps a fetched order to the orders/* webhook body shape the parser takes.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mortard.secret import Secret

from ._mapping import legacy_id, order_from_graphql, transaction_from_graphql
from .errors import (
    ShopifyError,
    ShopifyOrderTooLarge,
    ShopifyQueryError,
    ShopifyUnauthorized,
    ShopifyUnavailable,
    ShopifyUserError,
)

# The client and gateway (and so aiohttp) load on first use.
_LAZY = {"ShopifyClient": "client", "ShopifyShop": "client", "ShopifyRetry": "client", "CostBucket": "client",
         "ShopifyObserver": "client", "NullShopifyObserver": "client", "ShopifyGateway": "gateway",
         "topic_enum": "gateway", "topic_name": "gateway"}

if TYPE_CHECKING:
    from .client import CostBucket, NullShopifyObserver, ShopifyClient, ShopifyObserver, ShopifyRetry, ShopifyShop
    from .gateway import ShopifyGateway, topic_enum, topic_name


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib
        return getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "CostBucket",
    "NullShopifyObserver",
    "Secret",
    "ShopifyClient",
    "ShopifyError",
    "ShopifyGateway",
    "ShopifyObserver",
    "ShopifyOrderTooLarge",
    "ShopifyQueryError",
    "ShopifyRetry",
    "ShopifyShop",
    "ShopifyUnauthorized",
    "ShopifyUnavailable",
    "ShopifyUserError",
    "legacy_id",
    "order_from_graphql",
    "topic_enum",
    "topic_name",
    "transaction_from_graphql",
]
