"""The client's cost bucket, and the new packages' layering."""
from __future__ import annotations

import subprocess
import sys

from mortard.shopify import CostBucket, topic_enum, topic_name


class Clock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def test_the_bucket_refills_at_the_reported_rate_and_says_how_long_to_wait():
    clock = Clock()
    b = CostBucket(clock)
    assert b.wait_for(900) == 0.0                    # nothing known yet: the first answer tells
    b.update({"maximumAvailable": 1000.0, "currentlyAvailable": 100.0, "restoreRate": 50.0})
    wait = b.wait_for(600)
    assert 10.0 < wait < 10.5                       # (600 + margin − 100) / 50
    clock.t = wait
    assert b.wait_for(600) == 0.0
    clock.t = 1000
    assert b.now_available() == 1000.0               # never above the maximum
    b.take(990)
    assert b.wait_for(50) > 0


def test_topics_map_to_shopifys_enum_and_back():
    for topic in ("orders/create", "orders/cancelled", "refunds/create", "order_transactions/create", "orders/edited"):
        assert topic_name(topic_enum(topic)) == topic
    assert topic_enum("order_transactions/create") == "ORDER_TRANSACTIONS_CREATE"


def test_the_shopify_client_reconciler_and_commands_never_load_the_test_scaffolding():
    code = ("import sys, mortard.shopify.gateway, mortard.shopify.client, mortard.reconcile, mortard.operator.shopify, "
            "mortard.store.reconcile, mortard.app\n"
            "print(','.join(m for m in sys.modules if m.startswith(('mortard.testing', 'mortard.demo', 'mortard.sandbox'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_the_sync_ports_with_the_shopify_port_load_no_io_library():
    code = ("import sys, mortard.sync.ports\n"
            "print(','.join(m for m in ('aiohttp', 'asyncpg', 'aiokafka') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
