"""`[kafka]` security settings: validated at load, mapped onto aiokafka's options, secrets kept secret,
and the TLS context built from the files really verifies a server and presents the client cert."""
from __future__ import annotations

import asyncio
import ssl
import subprocess
from pathlib import Path

import pytest

from mortard.config import ConfigError, config_from_dict
from mortard.consume.security import describe, kafka_client_options

ENV = {"KAFKA_PW": "s3cret-pw"}


def kafka(env=ENV, **raw):
    return config_from_dict({"kafka": raw}, env).kafka


def test_plaintext_is_the_default_and_adds_nothing():
    assert kafka_client_options(kafka(bootstrap="b:9092")) == {"bootstrap_servers": "b:9092",
                                                               "security_protocol": "PLAINTEXT"}


@pytest.mark.parametrize("mechanism", ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"])
def test_sasl_plaintext_maps_user_password_and_mechanism(mechanism):
    cfg = kafka(security_protocol="SASL_PLAINTEXT", sasl_mechanism=mechanism, sasl_username="svc",
                sasl_password_env="KAFKA_PW")
    options = kafka_client_options(cfg)
    assert options["security_protocol"] == "SASL_PLAINTEXT" and options["sasl_mechanism"] == mechanism
    assert options["sasl_plain_username"] == "svc" and options["sasl_plain_password"] == "s3cret-pw"
    assert "ssl_context" not in options
    assert "s3cret-pw" not in repr(cfg) and "s3cret-pw" not in describe(cfg)


def test_the_password_can_come_from_a_file(tmp_path):
    (tmp_path / "pw").write_text("from-file\n")
    cfg = kafka(security_protocol="SASL_SSL", sasl_username="svc", sasl_password_file=str(tmp_path / "pw"))
    assert kafka_client_options(cfg)["sasl_plain_password"] == "from-file"
    assert isinstance(kafka_client_options(cfg)["ssl_context"], ssl.SSLContext)


def test_aiokafka_accepts_every_mapping():
    from aiokafka import AIOKafkaProducer
    from aiokafka.admin import AIOKafkaAdminClient
    for protocol in ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"):
        sasl = {"sasl_username": "u", "sasl_password_env": "KAFKA_PW", "sasl_mechanism": "SCRAM-SHA-512"} \
            if protocol.startswith("SASL") else {}
        options = kafka_client_options(kafka(security_protocol=protocol, **sasl))

        async def build():
            AIOKafkaProducer(**options)          # validates protocol / mechanism / context combinations
            AIOKafkaAdminClient(**options)
        asyncio.run(build())


@pytest.mark.parametrize("raw, message", [
    ({"security_protocol": "SASL_SSL"}, "needs sasl_username and sasl_password_env"),
    ({"security_protocol": "SASL_SSL", "sasl_username": "u", "sasl_password_env": "MISSING"},
     "kafka.sasl_password: environment variable MISSING is not set"),
    ({"sasl_username": "u", "sasl_password_env": "KAFKA_PW"}, "does not use SASL"),
    ({"sasl_password": "inline"}, "put it in the environment"),
    ({"security_protocol": "TLS"}, "kafka.security_protocol: expected one of PLAINTEXT, SSL"),
    ({"security_protocol": "SASL_SSL", "sasl_mechanism": "GSSAPI", "sasl_username": "u",
      "sasl_password_env": "KAFKA_PW"}, "kafka.sasl_mechanism: expected one of PLAIN, SCRAM-SHA-256"),
    ({"security_protocol": "SSL", "ssl_certfile": "c.pem"}, "ssl_certfile and ssl_keyfile go together"),
    ({"ssl_cafile": "ca.pem"}, "does not use TLS"),
    ({"replication_factor": 0}, "replication_factor must be at least 1"),
    ({"fetch_max_wait_ms": 0}, "fetch_max_wait_ms must be at least 1"),
    ({"create_topics": "sometimes"}, "kafka.create_topics: expected one of auto, never"),
])
def test_wrong_security_settings_stop_with_one_line(raw, message):
    with pytest.raises(ConfigError) as err:
        kafka(**raw)
    assert message in str(err.value) and "\n" not in str(err.value)


def test_an_unreadable_ca_file_is_a_config_error_naming_the_file(tmp_path):
    cfg = kafka(security_protocol="SSL", ssl_cafile=str(tmp_path / "nope.pem"))
    with pytest.raises(ConfigError, match="nope.pem"):
        kafka_client_options(cfg)


# -- the TLS context against a real TLS server ------------------------------------------------------

def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def _ca(d: Path, name: str) -> None:
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}.key", "-out", f"{name}.pem",
             "-days", "2", "-subj", f"/CN={name}", cwd=d)


def _signed(d: Path, ca: str, name: str, cn: str) -> None:
    (d / "ext").write_text("subjectAltName=DNS:localhost,IP:127.0.0.1\n")
    _openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}.key", "-out", f"{name}.csr",
             "-subj", f"/CN={cn}", cwd=d)
    _openssl("x509", "-req", "-in", f"{name}.csr", "-CA", f"{ca}.pem", "-CAkey", f"{ca}.key", "-CAcreateserial",
             "-out", f"{name}.pem", "-days", "2", "-extfile", "ext", cwd=d)


@pytest.fixture(scope="module")
def pki(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("pki")
    _ca(d, "ca")
    _ca(d, "other-ca")
    _signed(d, "ca", "server", "localhost")
    _signed(d, "ca", "client", "mortard-client")
    return d


async def _handshake(context: ssl.SSLContext, server_cert: str, pki: Path) -> str:
    """Connect with `context` to a TLS server (client cert required); returns the client CN it saw."""
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=str(pki / "ca.pem"))
    server_ctx.load_cert_chain(pki / f"{server_cert}.pem", pki / f"{server_cert}.key")
    server_ctx.verify_mode = ssl.CERT_REQUIRED
    seen: list[str] = []

    async def on_client(reader, writer):
        cert = writer.get_extra_info("peercert") or {}
        seen.extend(v for rdn in cert.get("subject", ()) for k, v in rdn if k == "commonName")
        writer.close()

    server = await asyncio.start_server(on_client, "127.0.0.1", 0, ssl=server_ctx)
    port = server.sockets[0].getsockname()[1]
    try:
        _, writer = await asyncio.open_connection("localhost", port, ssl=context)
        await asyncio.sleep(0.05)
        writer.close()
    finally:
        server.close()
        await server.wait_closed()
    return ",".join(seen)


async def test_the_context_verifies_the_broker_and_presents_the_client_certificate(pki):
    cfg = kafka(security_protocol="SSL", ssl_cafile=str(pki / "ca.pem"), ssl_certfile=str(pki / "client.pem"),
                ssl_keyfile=str(pki / "client.key"))
    assert await _handshake(kafka_client_options(cfg)["ssl_context"], "server", pki) == "mortard-client"


async def test_a_broker_certificate_from_another_ca_is_refused(pki):
    _signed(pki, "other-ca", "impostor", "localhost")
    cfg = kafka(security_protocol="SSL", ssl_cafile=str(pki / "ca.pem"), ssl_certfile=str(pki / "client.pem"),
                ssl_keyfile=str(pki / "client.key"))
    with pytest.raises(ssl.SSLCertVerificationError):
        await _handshake(kafka_client_options(cfg)["ssl_context"], "impostor", pki)
