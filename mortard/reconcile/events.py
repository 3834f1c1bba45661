"""A fetched order as an inbox event: the orders/updated webhook it stands for, with its source."""
from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any

from mortard.store.events import InboxEvent
from mortard.sync.ports import FetchedOrder

# Fetched orders come as if by orders/updated: a whole snapshot, merged by updated_at like any other.
FETCHED_TOPIC = "orders/updated"


def fetched_event(shop: str, order: FetchedOrder, source: str, now: datetime | None = None) -> InboxEvent:
    """Dedupe key = source + order + updated_at: the same Shopify state fetched twice is stored once,
    and a state a webhook already brought is not fetched at all (the caller compares updated_at)."""
    snapshot: dict[str, Any] = dict(order.snapshot)
    refunds = {str(r["id"]): r for r in snapshot.get("refunds") or [] if isinstance(r, dict) and r.get("id")}
    stamp = order.updated_at.astimezone(timezone.utc).isoformat()
    return InboxEvent(
        shop=shop, order_id=order.order_id, topic=FETCHED_TOPIC, dedupe_key=f"{source}:{order.order_id}:{stamp}",
        webhook_id=None, event_id=None, triggered_at=now or datetime.now(timezone.utc),
        kafka_topic=source, kafka_partition=0, kafka_offset=0, payload=snapshot, raw=json.dumps(snapshot),
        snapshot=snapshot, snapshot_updated_at=order.updated_at, order_name=order.name or None,
        refunds=refunds, transactions=dict(order.transactions),
    )
