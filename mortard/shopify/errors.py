"""The Shopify Admin client's exception tree.

Every error names the shop and the GraphQL operation (never the access token).

    ShopifyError
    ├── ShopifyUnauthorized    401/403: the token is wrong or lacks a scope
    ├── ShopifyQueryError      GraphQL `errors` other than THROTTLED (a bug in the query, or a bad id)
    ├── ShopifyUserError       a mutation's `userErrors`
    ├── ShopifyOrderTooLarge   an order has more lines or refunds than one query reads
    └── ShopifyUnavailable     5xx, THROTTLED or no answer, after every retry       retryable
"""
from __future__ import annotations

from typing import ClassVar


class ShopifyError(Exception):
    retryable: ClassVar[bool] = False

    def __init__(self, message: str, *, shop: str | None = None, operation: str | None = None,
                 status: int | None = None) -> None:
        self.shop = shop
        self.operation = operation
        self.status = status
        where = " ".join(p for p in (shop or "", operation or "") if p)
        super().__init__(f"{where}: {message}" if where else message)


class ShopifyUnauthorized(ShopifyError):
    pass


class ShopifyQueryError(ShopifyError):
    pass


class ShopifyUserError(ShopifyError):
    pass


class ShopifyOrderTooLarge(ShopifyError):
    pass


class ShopifyUnavailable(ShopifyError):
    retryable = True


__all__ = ["ShopifyError", "ShopifyOrderTooLarge", "ShopifyQueryError", "ShopifyUnauthorized",
           "ShopifyUnavailable", "ShopifyUserError"]
