"""The account catalog: its three reads go out together (an account's first order waits one round
trip, not three), a missing payment type is created after them, and a failed read fails the load."""
from __future__ import annotations

import asyncio
from typing import Any

import pytest

from mortard.heartland.catalog import AccountCatalog
from mortard.heartland_contract.dialect import DEFAULT_DIALECT
from mortard.heartland_contract.errors import HeartlandServerError


class _Client:
    """The reads the catalog makes; each waits until all three are out (or fails with `fail`)."""

    dialect = DEFAULT_DIALECT

    def __init__(self, fail: str | None = None) -> None:
        self.out: set[str] = set()
        self.calls: list[str] = []
        self._all_out = asyncio.Event()
        self._fail = fail

    async def _read(self, what: str, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        self.calls.append(what)
        self.out.add(what)
        if len(self.out) == 3:
            self._all_out.set()
        await asyncio.wait_for(self._all_out.wait(), 1.0)   # times out if the reads went one by one
        if what == self._fail:
            raise HeartlandServerError("down", status=503)
        return rows

    async def list_locations(self) -> list[dict[str, Any]]:
        return await self._read("locations", [{"id": 1, "public_id": "S01", "name": "Store", "stations": [{"id": 7}]}])

    async def list_payment_types(self) -> list[dict[str, Any]]:
        return await self._read("payment_types", [{"id": 3, "name": "Shopify"}])

    async def list_custom_fields(self, group_id: str | None = None, required: bool | None = None) -> list[dict[str, Any]]:
        assert required is True and group_id == DEFAULT_DIALECT.order_custom_field_group
        return await self._read("custom_fields", [{"key": "po", "required": True}, {"key": "x", "required": False}])

    async def create_payment_type(self, name: str) -> int:
        assert self._all_out.is_set()
        self.calls.append(f"create {name}")
        return 9


async def test_the_three_reads_go_out_together_and_a_missing_payment_type_is_created_after() -> None:
    client = _Client()
    catalog = await AccountCatalog(client, payment_type_names=["Shopify", "Gift Card"]).catalog()  # type: ignore[arg-type]
    assert sorted(client.calls[:3]) == ["custom_fields", "locations", "payment_types"]
    assert client.calls[3:] == ["create Gift Card"]
    assert catalog.payment_types == {"Shopify": 3, "Gift Card": 9}
    assert catalog.locations["S01"].station_id == 7
    assert catalog.required_custom_fields == ("po",)


async def test_a_failed_read_fails_the_load_with_its_heartland_error() -> None:
    client = _Client(fail="payment_types")
    with pytest.raises(HeartlandServerError):
        await AccountCatalog(client).catalog()  # type: ignore[arg-type]
