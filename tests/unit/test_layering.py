"""Layers: the order core loads no I/O library; the product never loads the test scaffolding."""
from __future__ import annotations

import subprocess
import sys


def test_the_sync_package_imports_no_http_database_or_kafka_library():
    code = ("import sys, mortard.sync.plan, mortard.sync.machine, mortard.sync.scheduler, mortard.sync.execute, mortard.sync.apply, mortard.sync.recovery, mortard.sync.failures, mortard.sync.ports\n"
            "print(','.join(m for m in ('aiohttp', 'asyncpg', 'aiokafka') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_the_daemon_and_its_commands_never_load_the_test_scaffolding():
    code = ("import sys, mortard.app, mortard.cli, mortard.ingest.app, mortard.operator.orders, mortard.operator.dlq, "
            "mortard.operator.shops, mortard.heartland.gateway\n"
            "print(','.join(m for m in sys.modules if m.startswith(('mortard.testing', 'mortard.demo', 'mortard.sandbox'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_the_order_core_never_loads_the_heartland_edge():
    # sync defines the port; heartland implements it. Both speak mortard.heartland_contract, which
    # sits below them, so no arrow runs from the core up to its edge.
    code = ("import sys, mortard.sync, mortard.sync.batch, mortard.sync.journal, mortard.sync.reservations\n"
            "print(','.join(m for m in sys.modules if m == 'mortard.heartland' or m.startswith('mortard.heartland.')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_the_heartland_contract_imports_nothing_of_mortard():
    code = ("import sys, mortard.heartland_contract.dialect, mortard.heartland_contract.errors\n"
            "print(','.join(m for m in sys.modules if m.startswith('mortard.') and not m.startswith('mortard.heartland_contract')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
