"""Remembered customers: Shopify buyer (by the e-mail or phone mortard searches with) → the Heartland
customer and addresses found or created for them, per Heartland account.

A returning buyer's order then skips `GET /customers` and `GET /customers/{id}/addresses`. The
memory is only a shortcut: Heartland stays the truth, and when it no longer has the customer or an
address (a request naming it is refused), the machine forgets the row and searches again
(`OrderMachine._forget_customer`). A small in-process cache sits in front of the table, so a
daemon reads each buyer from Postgres once; daemons share the table.
"""
from __future__ import annotations

import json
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

from mortard.store.db import Queryable, RawJson

__all__ = ["CustomerMemory", "RememberedCustomer"]

_GET = "SELECT customer_id, addresses FROM customer_memory WHERE account = $1 AND match_key = $2"

_PUT = """
INSERT INTO customer_memory (account, match_key, customer_id, addresses) VALUES ($1, $2, $3, $4::jsonb)
ON CONFLICT (account, match_key) DO UPDATE SET customer_id = excluded.customer_id,
    addresses = excluded.addresses, updated_at = now()
"""

_FORGET = "DELETE FROM customer_memory WHERE account = $1 AND match_key = $2 AND customer_id = $3"

# (customer id, ((address id, {field: value}), ...))
RememberedCustomer = tuple[int, tuple[tuple[int, dict[str, Any]], ...]]

_MISSING = object()


class CustomerMemory:
    def __init__(self, db: Queryable, *, cache_size: int = 50_000) -> None:
        self._db = db
        self._cache: OrderedDict[tuple[str, str], RememberedCustomer | None] = OrderedDict()
        self._cache_size = cache_size

    async def recall(self, account: str, key: str) -> RememberedCustomer | None:
        ck = (account, key)
        hit = self._cache.get(ck, _MISSING)
        if hit is not _MISSING:
            self._cache.move_to_end(ck)
            return hit  # type: ignore[return-value]
        row = await self._db.fetchrow(_GET, account, key)
        found = None if row is None else (int(row["customer_id"]), _addresses(row["addresses"]))
        self._put_cache(ck, found)
        return found

    async def remember(self, account: str, key: str, customer_id: int,
                       addresses: Sequence[tuple[int, dict[str, Any]]]) -> None:
        """Record what the buyer is now; written only when it differs from what is remembered."""
        value: RememberedCustomer = (customer_id, tuple((int(i), dict(a)) for i, a in addresses))
        ck = (account, key)
        if self._cache.get(ck) == value:
            return
        await self._db.execute(_PUT, account, key, customer_id, RawJson(json.dumps([[i, a] for i, a in value[1]])))
        self._put_cache(ck, value)

    async def forget(self, account: str, key: str, customer_id: int) -> None:
        self._cache.pop((account, key), None)
        await self._db.execute(_FORGET, account, key, customer_id)

    def _put_cache(self, ck: tuple[str, str], value: RememberedCustomer | None) -> None:
        self._cache[ck] = value
        self._cache.move_to_end(ck)
        while len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)


def _addresses(raw: Any) -> tuple[tuple[int, dict[str, Any]], ...]:
    if isinstance(raw, str):
        raw = json.loads(raw)
    return tuple((int(i), dict(a)) for i, a in raw or ())
