"""Is each Heartland account's token still accepted? One cheap documented read per account, at start
and every `interval_s`: `GET /locations?page=1&per_page=1` (the count idiom, heartland-api.md §1).

401 (wrong or expired token) or 403 (the token's user lacks a permission) makes the account
*refused*: `/readyz` fails naming it, `mortard_heartland_account_refused{account}` is 1, the result is
stored (store/health_checks.py) for the console, and its orders wait (sync/failures.py TOKEN). Any
other failure (5xx, timeout, Heartland unreachable) says nothing about the token: the last verdict
stands. When a refused account answers again, `on_accepted` runs (the daemon makes its waiting
orders due at once), so they continue without an operator.
"""
from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import structlog

from mortard.heartland_contract.errors import HeartlandError, HeartlandForbidden, HeartlandUnauthorized

__all__ = ["TokenChecker"]

log = structlog.get_logger(__name__)

Record = Callable[[str, bool, int | None, str], Awaitable[None]]


class TokenChecker:
    def __init__(self, clients: Mapping[str, Any], *, interval_s: float = 60.0, metrics: Any = None,
                 record: Record | None = None, on_accepted: Callable[[str], Awaitable[Any]] | None = None) -> None:
        self._clients = clients          # account name -> HeartlandClient
        self.interval_s = interval_s
        self._metrics = metrics
        self._record = record
        self._on_accepted = on_accepted
        self.refused: dict[str, str] = {}            # account -> what Heartland said
        self._known: dict[str, bool] = {}            # account -> refused at the last verdict

    def accepted(self, account: str) -> bool:
        """False while the account's last verdict was a refusal (readiness)."""
        return account not in self.refused

    async def check(self, account: str) -> bool | None:
        """True: accepted; False: refused; None: no verdict (Heartland did not answer usefully)."""
        client = self._clients[account]
        try:
            await client._get("locations", [("page", "1"), ("per_page", "1")])
        except (HeartlandUnauthorized, HeartlandForbidden) as exc:
            await self._verdict(account, refused=True, status=exc.status, detail=str(exc))
            return False
        except HeartlandError as exc:
            log.warning("heartland_token_check_inconclusive", account=account, error=str(exc))
            return None
        await self._verdict(account, refused=False, status=200, detail="")
        return True

    async def _verdict(self, account: str, *, refused: bool, status: int | None, detail: str) -> None:
        before = self._known.get(account)
        self._known[account] = refused
        if refused:
            self.refused[account] = detail
            if before is not True:
                log.error("heartland_token_refused", account=account, status=status, error=detail)
        else:
            self.refused.pop(account, None)
            if before is True:
                log.warning("heartland_token_accepted_again", account=account)
        if self._metrics is not None:
            self._metrics.heartland_account_refused.labels(account=account).set(1 if refused else 0)
        if self._record is not None:
            try:
                await self._record(account, refused, status, detail)
            except Exception as exc:   # noqa: BLE001 - Postgres away: the verdict still holds in memory
                log.warning("heartland_token_check_not_stored", account=account, error=str(exc))
        # Not refused now and not known to be accepted before (refused, or the first check after a
        # start, when a previous run may have left orders waiting): wake the account's orders.
        if not refused and before is not False and self._on_accepted is not None:
            try:
                await self._on_accepted(account)
            except Exception as exc:   # noqa: BLE001 - they run at their own retry time anyway
                log.warning("heartland_token_waiters_not_woken", account=account, error=str(exc))

    async def check_all(self) -> None:
        await asyncio.gather(*(self.check(a) for a in self._clients))

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await self.check_all()
            except asyncio.CancelledError:
                raise
            except Exception as exc:    # noqa: BLE001 - one bad round must not end the checks
                log.warning("heartland_token_check_failed", error=str(exc))
            try:
                await asyncio.wait_for(stop.wait(), self.interval_s)
            except asyncio.TimeoutError:
                pass
