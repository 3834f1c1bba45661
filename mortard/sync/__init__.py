"""The order core: from a Shopify order and what Heartland holds, the next actions (`sync.plan.plan`),
and the driver that carries them out through the Heartland port. What other packages may use is
named here."""
from mortard.sync.actions import MUTATIONS, Action, Plan, Reason
from mortard.sync.failures import RetryPolicy
from mortard.sync.machine import OrderMachine, ShopRuntime
from mortard.sync.ports import OrderStore
from mortard.sync.model import InvalidOrder, Mirror, ShopifyOrder
from mortard.sync.plan import PlanInput
from mortard.sync.ports import HeartlandPort, JournalEntry, OrderReading
from mortard.sync.recovery import rebuild
from mortard.sync.scheduler import Scheduler
from mortard.sync.settings import ShopSettings
from mortard.sync.states import REASONS, ReasonCode, SyncState

__all__ = [
    "MUTATIONS", "REASONS", "Action", "HeartlandPort", "InvalidOrder", "JournalEntry", "Mirror", "OrderMachine",
    "OrderReading", "OrderStore", "Plan", "PlanInput", "Reason", "ReasonCode", "RetryPolicy", "Scheduler",
    "ShopRuntime", "ShopSettings", "ShopifyOrder", "SyncState", "rebuild",
]
