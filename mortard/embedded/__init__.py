"""Throwaway servers for the demo and the test suite: PostgreSQL and a Kafka-protocol broker.

Production runs against real Postgres and Kafka; these exist so that `mortard demo` and the tests
need no accounts and no Docker (see shared/docs/infra.md for why these brokers).
"""
from mortard.embedded.kafka import EmbeddedBroker, free_port
from mortard.embedded.postgres import EmbeddedPostgres

__all__ = ["EmbeddedBroker", "EmbeddedPostgres", "free_port"]
