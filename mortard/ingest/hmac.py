"""Shopify webhook signatures: base64(HMAC-SHA256(secret, raw body)), compared in constant time."""
from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterable

from mortard.config import ShopConfig


def sign(body: bytes, secret: str) -> str:
    """The `X-Shopify-Hmac-Sha256` value Shopify sends for `body` signed with `secret`."""
    digest = hmac.new(secret.encode("utf-8"), body, hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def verify(body: bytes, signature: str | None, secrets: Iterable[str]) -> bool:
    """True when `signature` is `body` signed with any of `secrets` (empty secrets never match).

    Every secret is checked with `hmac.compare_digest`, with no early exit, so the time taken does
    not depend on which secret (or how much of the signature) matched.
    """
    if not signature:
        return False
    given = signature.strip().encode("utf-8", "replace")
    matched = False
    for secret in secrets:
        if secret:
            matched |= hmac.compare_digest(sign(body, secret).encode("ascii"), given)
    return matched


def shop_secrets(shop: ShopConfig) -> tuple[str, ...]:
    """The secrets a shop's webhooks may be signed with: current first, then the previous one."""
    return tuple(s.reveal() for s in (shop.webhook_secret, shop.previous_webhook_secret)
                 if s is not None and s.reveal())
