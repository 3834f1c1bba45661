"""What the tests, the benchmarks and the demo build with — never the daemon.

`shopify`: Shopify webhook payloads and their signed deliveries (orders, refunds, transactions).
`postgres`, `kafka`: throwaway PostgreSQL and Kafka-protocol brokers, so `mortard demo` and the
test suite need no accounts and no Docker (noida-db and Tansu: the broker wheels the project's
`embedded`/`test` extras install). Production runs against real Postgres and Kafka; the product's
packages never import this one (tests/unit/test_layering.py).
"""
from mortard.testing.kafka import EmbeddedBroker, free_port
from mortard.testing.postgres import EmbeddedPostgres

__all__ = ["EmbeddedBroker", "EmbeddedPostgres", "free_port"]
