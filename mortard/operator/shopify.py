"""Operator commands that ask Shopify: `mortard orders resync SHOP ORDER` and
`mortard shops webhooks SHOP [--fix]`."""
from __future__ import annotations

import argparse
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import asyncpg

from mortard.config import Config, ShopConfig
from mortard.operator._db import database
from mortard.operator.errors import UserError
from mortard.operator.render import emit, table, to_json

if TYPE_CHECKING:
    from mortard.reconcile.subscriptions import SubscriptionCheck



def _shop(cfg: Config, shop: str) -> ShopConfig:
    if shop not in cfg.shops:
        raise UserError(f"shop {shop} is not in the config file (configured: {', '.join(sorted(cfg.shops)) or 'none'})")
    sc = cfg.shops[shop]
    if sc.shopify is None:
        raise UserError(f"shop {shop} has no Shopify Admin API access: add [shops.\"{shop}\".shopify] with "
                        "access_token_env (or access_token_file) to the config")
    return sc


@dataclass(frozen=True, slots=True)
class Resynced:
    order_id: int
    order_name: str
    updated_at: datetime
    new_snapshot: bool            # False: mortard had this state already
    state: str | None             # the order's state once made due


async def resync_order(cfg: Config, db: asyncpg.Pool, shop: str, ref: str, by: str | None = None) -> Resynced:
    """Fetch order `ref` (id or name) from Shopify, store it as a webhook would be stored (source
    `resync`), and make it due now — also an order mortard never saw. `by`: who asked."""
    from mortard.app import shopify_client
    from mortard.reconcile.events import fetched_event
    from mortard.shopify import ShopifyError, ShopifyGateway
    from mortard.store.order_retry import retry_now
    from mortard.store.reconcile import ReconcileStore

    sc = _shop(cfg, shop)
    ref = ref.strip()
    async with shopify_client(sc) as client:
        gateway = ShopifyGateway(client)
        try:
            order = await gateway.order(int(ref)) if ref.isdigit() and len(ref) <= 18 else None
            if order is None:
                order = await gateway.order_by_name(ref)
        except ShopifyError as exc:
            raise UserError(f"Shopify refused: {exc}") from None
    if order is None:
        raise UserError(f"Shopify has no order {ref} in {shop} (give the order id or its name, like #1001)")
    (new,) = await ReconcileStore(db).take_in([fetched_event(shop, order, "resync")], "resync")
    r = await retry_now(db, shop, order.order_id, by=by)
    return Resynced(order.order_id, order.name, order.updated_at, bool(new), r.to_state if r else None)


async def orders_resync(cfg: Config, args: argparse.Namespace) -> int:
    """Fetch the order from Shopify, store it as a webhook would be stored, and make it due now."""
    async with database(cfg) as db:
        r = await resync_order(cfg, db, args.shop, args.order)
    result: dict[str, Any] = {"shop": args.shop, "order_id": r.order_id, "order_name": r.order_name,
                              "updated_at": r.updated_at, "new_snapshot": r.new_snapshot, "state": r.state}
    if getattr(args, "json", False):
        emit(to_json(result))
        return 0
    what = "a change mortard had not stored" if r.new_snapshot else "the state mortard already had"
    emit(f"order {r.order_name} (id {r.order_id}) of {args.shop}: fetched {what} "
         f"(updated {r.updated_at.isoformat()}); due now — a running daemon syncs it on its next sweep.")
    return 0


async def shops_webhooks(cfg: Config, args: argparse.Namespace) -> int:
    """The subscriptions the shop needs (topics, address, API version), how the shop's fall short, and with
    --fix the missing ones created."""
    from mortard.app import shopify_client
    from mortard.reconcile.subscriptions import check_subscriptions
    from mortard.shopify import ShopifyError, ShopifyGateway

    shop = _shop(cfg, args.shop)
    sc = shop.shopify
    assert sc is not None
    if not sc.webhook_address:
        raise UserError(f"shops.{args.shop}.shopify.webhook_address is not set: mortard can't tell which address "
                        "Shopify should deliver to (the public URL of `mortard ingest`, ending /webhooks/shopify)")
    created: list[str] = []
    failed: list[str] = []
    async with shopify_client(shop) as client:
        gateway = ShopifyGateway(client)
        try:
            check = check_subscriptions(await gateway.webhook_subscriptions(), sc.webhook_address, sc.api_version)
            if getattr(args, "fix", False):
                for t in check.topics:
                    if not t.needs_creating:
                        continue
                    try:
                        await gateway.create_webhook_subscription(t.topic, sc.webhook_address)
                        created.append(t.topic)
                    except ShopifyError as exc:
                        failed.append(f"{t.topic}: {exc}")
                if created:
                    check = check_subscriptions(await gateway.webhook_subscriptions(), sc.webhook_address,
                                                sc.api_version)
        except ShopifyError as exc:
            raise UserError(f"Shopify refused: {exc}") from None
    doc = {"shop": args.shop, "address": check.address, "api_version": check.api_version, "missing": check.missing,
           "created": created, "failed": failed,
           "topics": [{"topic": t.topic, "status": t.status,
                       "subscriptions": [{"id": s.id, "address": s.address, "api_version": s.api_version}
                                         for s in t.subscriptions]} for t in check.topics],
           "version_hint": _version_hint(check)}
    if getattr(args, "json", False):
        emit(to_json(doc))
    else:
        emit(f"{args.shop} needs these webhook subscriptions to {check.address} at API version {check.api_version}:")
        emit(table(["topic", "status", "subscribed to"],
                   [[t.topic, t.status, ", ".join(f"{s.address} ({s.api_version})" for s in t.subscriptions) or "-"]
                    for t in check.topics]))
        for topic in created:
            emit(f"created {topic}")
        for line in failed:
            emit(f"could not create {line}")
        creatable = sum(1 for t in check.topics if t.needs_creating)
        if creatable and not getattr(args, "fix", False):
            emit(f"{creatable} missing or delivering elsewhere; run with --fix to create them.")
        if doc["version_hint"]:
            emit(doc["version_hint"])
    return 0 if check.missing == 0 else 1


def _version_hint(check: SubscriptionCheck) -> str | None:
    """What to do about subscriptions at the wrong API version. --fix can't: Shopify takes a
    subscription's version from the app's configured Webhooks API version, never per subscription."""
    wrong = [t.topic for t in check.topics if t.status == "version"]
    if not wrong:
        return None
    return (f"{len(wrong)} topic(s) deliver to {check.address} at another API version ({', '.join(wrong)}). "
            f"Shopify sets a subscription's version from the app's Webhooks API version, not per subscription: "
            f"set it to {check.api_version} in the app's configuration (shopify.app.toml [webhooks] api_version, "
            f"or the Partner Dashboard), or pin shopify.api_version to the version the app uses.")
