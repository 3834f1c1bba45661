"""The `[kafka]` connection settings as aiokafka client options, shared by every Kafka client mortard
makes (the daemon's consumer and dead-letter producer, the topic admin, ingest's producer, the CLI).

aiokafka 0.14 takes `security_protocol` (PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL), an `ssl_context`
(built here from the CA file and the client certificate and key) and `sasl_mechanism` with
`sasl_plain_username` / `sasl_plain_password`, which it uses for PLAIN and for SCRAM-SHA-256/512 alike.
OAUTHBEARER needs a token-provider object, not a setting, so it is not offered.
"""
from __future__ import annotations

import ssl
from typing import Any

from aiokafka.helpers import create_ssl_context

from mortard.config import ConfigError, KafkaConfig


def kafka_client_options(cfg: KafkaConfig) -> dict[str, Any]:
    """Keyword arguments for AIOKafkaConsumer / AIOKafkaProducer / AIOKafkaAdminClient."""
    options: dict[str, Any] = {"bootstrap_servers": cfg.bootstrap, "security_protocol": cfg.security_protocol}
    if cfg.security_protocol.endswith("SSL"):
        options["ssl_context"] = _ssl_context(cfg)
    if cfg.security_protocol.startswith("SASL_"):
        assert cfg.sasl_password is not None  # KafkaConfig refuses SASL without one
        options.update(sasl_mechanism=cfg.sasl_mechanism, sasl_plain_username=cfg.sasl_username,
                       sasl_plain_password=cfg.sasl_password.reveal())
    return options


def _ssl_context(cfg: KafkaConfig) -> ssl.SSLContext:
    try:
        context = create_ssl_context(cafile=cfg.ssl_cafile or None, certfile=cfg.ssl_certfile or None,
                                     keyfile=cfg.ssl_keyfile or None)
    except (OSError, ssl.SSLError) as exc:
        files = ", ".join(f for f in (cfg.ssl_cafile, cfg.ssl_certfile, cfg.ssl_keyfile) if f)
        raise ConfigError(f"kafka.ssl_*: cannot load {files or 'the system CA store'}: {exc}") from None
    context.check_hostname = cfg.ssl_check_hostname
    return context


def describe(cfg: KafkaConfig) -> str:
    """Where and how mortard connects, for one-line errors (never the password)."""
    how = cfg.security_protocol
    if how.startswith("SASL_"):
        how += f" {cfg.sasl_mechanism} as {cfg.sasl_username}"
    return f"{cfg.bootstrap} ({how})"
