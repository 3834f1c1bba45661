"""The last result of each health check, in Postgres (`migrations/0008_health_checks.sql`): Heartland
token checks per account and webhook-subscription checks per shop; and the drift the watch recorded
(`order_drift`, migration 0005), as the console's overview and pages read them.
"""
from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from mortard.store.db import Queryable

__all__ = ["DriftedOrder", "SubscriptionRow", "TokenCheckRow", "drifted_orders", "drifted_order_count",
           "record_subscriptions", "record_token_check", "refused_accounts", "shops_missing_subscriptions",
           "subscription_checks",
           "token_checks", "wake_token_waiters"]

_RECORD_TOKEN = """
INSERT INTO heartland_token_checks (account, refused, status, detail, refused_since, checked_at)
VALUES ($1, $2, $3, $4, CASE WHEN $2 THEN now() END, now())
ON CONFLICT (account) DO UPDATE SET
    refused = EXCLUDED.refused, status = EXCLUDED.status, detail = EXCLUDED.detail,
    refused_since = CASE WHEN NOT EXCLUDED.refused THEN NULL
                         ELSE coalesce(heartland_token_checks.refused_since, now()) END,
    checked_at = now()
"""

# Orders that wait for their account's token (sync/failures.py TOKEN_REFUSED): due now.
_WAKE = """
UPDATE orders SET next_attempt_at = now(), updated_at = now()
WHERE shop = ANY($1::text[]) AND sync_state = 'failed'
  AND pending_reasons @> jsonb_build_array(jsonb_build_object('code', $2::text))
  AND (next_attempt_at IS NULL OR next_attempt_at > now())
"""

_RECORD_SUBS = """
INSERT INTO webhook_subscription_checks (shop, address, api_version, missing, topics, checked_at)
VALUES ($1, $2, $3, $4, $5::jsonb, now())
ON CONFLICT (shop) DO UPDATE SET address = EXCLUDED.address, api_version = EXCLUDED.api_version,
    missing = EXCLUDED.missing, topics = EXCLUDED.topics, checked_at = now()
"""

# One row per order with drift: its newest change, and how many distinct changes were noticed.
_DRIFTED = """
SELECT d.shop, d.order_id, o.order_name, o.sync_state, o.heartland_order_id, d.kinds, d.changes,
       d.first_noticed_at, d.last_noticed_at, last.detail AS last_detail, last.kind AS last_kind
FROM (SELECT shop, order_id, array_agg(DISTINCT kind ORDER BY kind) AS kinds, count(*) AS changes,
             min(noticed_at) AS first_noticed_at, max(noticed_at) AS last_noticed_at, max(id) AS last_id
      FROM order_drift WHERE ($1::text IS NULL OR shop = $1) GROUP BY shop, order_id) d
JOIN order_drift last ON last.id = d.last_id
LEFT JOIN orders o ON o.shop = d.shop AND o.order_id = d.order_id
ORDER BY d.last_noticed_at DESC, d.shop, d.order_id
LIMIT $2
"""


@dataclass(frozen=True, slots=True)
class TokenCheckRow:
    account: str
    refused: bool
    status: int | None
    detail: str
    refused_since: datetime | None
    checked_at: datetime


@dataclass(frozen=True, slots=True)
class SubscriptionRow:
    shop: str
    address: str
    api_version: str
    missing: int
    topics: list[dict[str, str]]
    checked_at: datetime


@dataclass(frozen=True, slots=True)
class DriftedOrder:
    shop: str
    order_id: int
    order_name: str | None
    sync_state: str | None
    heartland_order_id: int | None
    kinds: list[str]
    changes: int
    first_noticed_at: datetime
    last_noticed_at: datetime
    last_kind: str
    last_detail: Any


async def record_token_check(db: Queryable, account: str, *, refused: bool, status: int | None,
                             detail: str) -> None:
    await db.execute(_RECORD_TOKEN, account, refused, status, detail[:500])


async def token_checks(db: Queryable) -> list[TokenCheckRow]:
    rows = await db.fetch("SELECT account, refused, status, detail, refused_since, checked_at "
                          "FROM heartland_token_checks ORDER BY account")
    return [TokenCheckRow(**dict(r)) for r in rows]


async def refused_accounts(db: Queryable) -> int:
    return int(await db.fetchval("SELECT count(*) FROM heartland_token_checks WHERE refused"))


async def wake_token_waiters(db: Queryable, shops: Sequence[str], reason_code: str) -> int:
    """Make the orders of `shops` that wait for a refused token due now; how many."""
    if not shops:
        return 0
    status = await db.execute(_WAKE, list(shops), reason_code)
    return int(status.rsplit(" ", 1)[-1])


async def record_subscriptions(db: Queryable, shop: str, address: str, api_version: str,
                               topics: Iterable[tuple[str, str]]) -> None:
    """The last check of a shop's webhook subscriptions: (topic, status) pairs."""
    items = [{"topic": t, "status": s} for t, s in topics]
    await db.execute(_RECORD_SUBS, shop, address, api_version, sum(1 for i in items if i["status"] != "ok"),
                     items)


async def subscription_checks(db: Queryable) -> list[SubscriptionRow]:
    rows = await db.fetch("SELECT shop, address, api_version, missing, topics, checked_at "
                          "FROM webhook_subscription_checks ORDER BY shop")
    out = []
    for r in rows:
        d = dict(r)
        if isinstance(d["topics"], str):
            d["topics"] = json.loads(d["topics"])
        out.append(SubscriptionRow(**d))
    return out


async def shops_missing_subscriptions(db: Queryable) -> int:
    return int(await db.fetchval("SELECT count(*) FROM webhook_subscription_checks WHERE missing > 0"))


async def drifted_order_count(db: Queryable) -> int:
    return int(await db.fetchval("SELECT count(DISTINCT (shop, order_id)) FROM order_drift"))


async def drifted_orders(db: Queryable, shop: str | None = None, limit: int = 200) -> list[DriftedOrder]:
    out = []
    for r in await db.fetch(_DRIFTED, shop, limit):
        d = dict(r)
        if isinstance(d["last_detail"], str):
            d["last_detail"] = json.loads(d["last_detail"])
        d["kinds"] = list(d["kinds"])
        out.append(DriftedOrder(**d))
    return out
