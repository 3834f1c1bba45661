"""`Sandbox`: everything one running sandbox holds (accounts, faults, request counters)."""
from __future__ import annotations

from collections import Counter, defaultdict
from typing import Any

from aiohttp import web

from mortard.heartland_contract.dialect import Dialect
from mortard.sandbox.faults import Faults
from mortard.sandbox.fixture import build_accounts, fixture_faults, load_fixture
from mortard.sandbox.state import Account


class Sandbox:
    """Everything one running sandbox holds. `reset()` brings it back to the fixture."""

    def __init__(self, fixture: dict[str, Any], dialect: Dialect,
                 faults: dict[str, Any] | None = None) -> None:
        self.fixture = fixture
        self.dialect = dialect
        self._start_faults = faults or {}
        self.accounts: dict[str, Account] = {}
        self.faults = Faults()
        self.requests: dict[str, dict[str, Counter[str]]] = {}
        self.injected: dict[str, Counter[str]] = {}
        self.reset()

    def reset(self, fixture: dict[str, Any] | None = None) -> None:
        if fixture is not None:
            self.fixture = load_fixture(fixture)
        self.accounts = build_accounts(self.fixture, self.dialect)
        self.faults = Faults(fixture_faults(self.fixture))
        self.faults.update(self._start_faults)
        self.requests = {name: defaultdict(Counter) for name in self.accounts}
        self.injected = {name: Counter() for name in self.accounts}

    def count(self, account: str, route: str, status: int) -> None:
        self.requests[account][route][str(status)] += 1

    def request_counts(self, account: str) -> dict[str, dict[str, int]]:
        return {route: dict(sorted(c.items())) for route, c in sorted(self.requests[account].items())}


SANDBOX: web.AppKey[Sandbox] = web.AppKey("mortard_sandbox", Sandbox)
