"""Everything mortard keeps in PostgreSQL, and all of its SQL: the inbox, orders with their leases
and journal, stock holds, instance names, shop settings, dead letters, and the operator's queries.
What other packages may use is named here; the query modules (`order_lookup`, `order_timeline`,
`stats`, ...) are imported by name where needed."""
from mortard.store.db import Queryable, RawJson, create_pool, migrate, ping, pool_from_config
from mortard.store.events import InboxEvent
from mortard.store.inbox import DeadLetter, write_batch
from mortard.store.instance import InstanceLock, InstanceTaken, owner_id
from mortard.store.orders import OrderRow, OrderStore
from mortard.store.reservations import StockHolds

__all__ = [
    "DeadLetter", "InboxEvent", "InstanceLock", "InstanceTaken", "OrderRow", "OrderStore", "Queryable", "RawJson",
    "StockHolds", "create_pool", "migrate", "owner_id", "ping", "pool_from_config", "write_batch",
]
