"""The order core stays pure: importing it loads no I/O library (DESIGN.md §4)."""
from __future__ import annotations

import subprocess
import sys


def test_the_sync_package_imports_no_http_database_or_kafka_library():
    code = ("import sys, mortard.sync.plan, mortard.sync.machine, mortard.sync.scheduler, mortard.sync.execute, mortard.sync.apply, mortard.sync.recovery, mortard.sync.failures, mortard.sync.ports\n"
            "print(','.join(m for m in ('aiohttp', 'asyncpg', 'aiokafka') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
