"""An in-memory Heartland Retail API for tests, demos and benchmarks (see docs/sandbox.md)."""
from __future__ import annotations

from mortard.sandbox.app import create_app
from mortard.sandbox.fixture import DEFAULT_FIXTURE, FixtureError, load_fixture
from mortard.sandbox.runtime import SANDBOX, Sandbox
from mortard.sandbox.server import main, serve

__all__ = ["DEFAULT_FIXTURE", "SANDBOX", "FixtureError", "Sandbox", "create_app", "load_fixture",
           "main", "serve"]
