"""mortard asks Shopify as well as listening: the periodic reconciliation sweep, resync of one order, and
the check of the shop's webhook subscriptions. Shopify is reached only through `ShopifyPort`."""
from mortard.reconcile.events import fetched_event
from mortard.reconcile.loop import Reconciler, ReconcileResult
from mortard.reconcile.subscriptions import SubscriptionCheck, check_subscriptions, needed_topics

__all__ = ["ReconcileResult", "Reconciler", "SubscriptionCheck", "check_subscriptions", "fetched_event",
           "needed_topics"]
