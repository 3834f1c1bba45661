"""Typed settings: a TOML file with MORTARD_* environment overrides, validated at start.

`MORTARD_KAFKA__BOOTSTRAP=host:9092` overrides `[kafka] bootstrap`; double underscores separate
levels. Secrets (Heartland tokens, webhook secrets, the database password) are never written in the
file itself: the file names an environment variable (`*_env`) or a file (`*_file`) to read them from,
and they are held in `Secret`, whose repr never shows the value.

The operator's commands load with `defer_secrets=True`: a secret that cannot be had (its variable
unset, its file unreadable) becomes a `MissingSecret` that fails with the same one line when used,
so `orders list` works on a host with only database access and `orders plan` still names the token
it lacks.
"""
from __future__ import annotations

import dataclasses
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Mapping

from mortard.config_values import ConfigError, EnvText, build
from mortard.heartland_contract.dialect import Dialect
from mortard.secret import Secret
from mortard.sync.settings import ShopSettings


@dataclass(frozen=True, slots=True)
class DatabaseConfig:
    # libpq URL without the password; the password comes from password_env / password_file.
    url: str = "postgresql://postgres@127.0.0.1:5432/mortard"
    password_env: str = ""
    password_file: str = ""
    min_pool: int = 2
    max_pool: int = 20
    command_timeout: float = 30.0


@dataclass(frozen=True, slots=True)
class KafkaConfig:
    bootstrap: str = "127.0.0.1:9092"
    topic: str = "shopify.orders"
    dead_letter_topic: str = "shopify.orders.dead"
    group_id: str = "mortard"
    # Static membership (KIP-345): a stable id per daemon avoids a rebalance on restart. "" = off.
    group_instance_id: str = ""
    session_timeout_ms: int = 10_000
    heartbeat_interval_ms: int = 3_000
    max_poll_interval_ms: int = 300_000
    # How long the broker may hold an empty fetch: also how late a quiet shop's next event can be
    # seen (a partition just read is left out of the fetch already waiting). Kafka's 500: ~0.2 s.
    fetch_max_wait_ms: int = 100
    # Pause partitions when this many records are buffered but not yet durable in the inbox.
    max_buffered_records: int = 2_000
    commit_interval_s: float = 1.0
    # For the ingest producer: the broker must support it (Tansu does not).
    idempotent_producer: bool = True
    partitions: int = 8
    # Topic creation at start: "auto" creates missing topics, "never" only checks they exist
    # (managed clusters where topics are made by the platform team).
    create_topics: Literal["auto", "never"] = "auto"
    replication_factor: int = 1
    # Readiness fails after this long with no partition assigned while the topic has partitions.
    max_unassigned_s: float = 60.0
    # Security (aiokafka's options; see mortard/consume/security.py).
    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] = "PLAIN"
    sasl_username: str = ""
    # Read from sasl_password_env / sasl_password_file, never from the file itself.
    sasl_password: Secret | None = None
    ssl_cafile: str = ""
    ssl_certfile: str = ""
    ssl_keyfile: str = ""
    ssl_check_hostname: bool = True

    def __post_init__(self) -> None:
        for name in ("replication_factor", "fetch_max_wait_ms"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1")
        sasl = self.security_protocol.startswith("SASL_")
        if sasl and not (self.sasl_username and self.sasl_password is not None):
            raise ValueError(f"security_protocol {self.security_protocol} needs sasl_username and "
                             "sasl_password_env or sasl_password_file")
        if not sasl and (self.sasl_username or self.sasl_password is not None):
            raise ValueError("sasl_username/sasl_password are set but security_protocol "
                             f"{self.security_protocol} does not use SASL")
        if bool(self.ssl_certfile) != bool(self.ssl_keyfile):
            raise ValueError("ssl_certfile and ssl_keyfile go together")
        if not self.security_protocol.endswith("SSL") and (self.ssl_cafile or self.ssl_certfile):
            raise ValueError(f"ssl_* files are set but security_protocol {self.security_protocol} "
                             "does not use TLS")


@dataclass(frozen=True, slots=True)
class DaemonConfig:
    # SIGTERM: finish in-flight work within this budget, commit, exit 0.
    drain_timeout_s: float = 30.0
    # Start: retry an unreachable Postgres or Kafka with backoff for this long, then exit non-zero.
    startup_timeout_s: float = 60.0
    # Orders worked at once in this daemon, across all accounts (round-robin; at least 2 per account).
    max_orders_in_flight: int = 64
    # How long a claimed order belongs to this daemon before another may take it over.
    lease_s: float = 60.0
    sweep_interval_s: float = 1.0
    # Short in-process retries before an order is parked with a stored next_attempt_at.
    max_attempts_in_process: int = 3
    # Attempts before a failed order becomes dead (a person must act).
    max_attempts: int = 12
    ops_host: str = "127.0.0.1"
    ops_port: int = 9464
    # The watch over waiting orders (sync/watch_runner.py): one pass per account per interval, using at
    # most this share of the account's rate (and never while orders keep its gate busy).
    watch_interval_s: float = 60.0
    watch_share: float = 0.1
    # uvloop is a faster event loop (less CPU per request and statement); "auto" uses it when installed.
    event_loop: Literal["auto", "uvloop", "asyncio"] = "auto"
    # The Heartland token check (heartland/token_check.py): at start and every this many seconds.
    heartland_token_check_s: float = 60.0


@dataclass(frozen=True, slots=True)
class IngestConfig:
    host: str = "127.0.0.1"
    port: int = 8080
    max_body_bytes: int = 2 * 1024 * 1024
    # Shopify gives a webhook 5 s; answer 503 well before that if the broker hasn't acked.
    produce_timeout_s: float = 3.0
    # /metrics (ingest's own), /healthz and /readyz: not on the public webhook port.
    ops_host: str = "127.0.0.1"
    ops_port: int = 9465


@dataclass(frozen=True, slots=True)
class LoggingConfig:
    level: str = "info"
    # "auto" = JSON when stdout is not a terminal.
    format: str = "auto"


@dataclass(frozen=True, slots=True)
class AccountConfig:
    name: str
    token: Secret
    base_url: str = ""  # "" = https://{subdomain}.retail.heartland.us/api/
    subdomain: str = ""  # "" = the account name
    rate_per_second: float = 5.0
    burst: int = 10
    arrival_jitter_ms: float = 50.0   # burst credit kept back: requests reach Heartland bunched
    max_concurrency: int = 8
    request_timeout_s: float = 10.0

    @property
    def resolved_base_url(self) -> str:
        if self.base_url:
            return self.base_url if self.base_url.endswith("/") else self.base_url + "/"
        return f"https://{self.subdomain or self.name}.retail.heartland.us/api/"


@dataclass(frozen=True, slots=True)
class ShopifyConfig:
    """The shop's Admin API access, for reconciliation, resync and webhook subscriptions."""

    token: Secret
    api_version: str = "2026-10"      # pinned for queries and the subscriptions mortard creates
    admin_url: str = ""               # "" = https://{shop}/admin/api/{api_version}/graphql.json
    webhook_address: str = ""         # the public URL of `mortard ingest`; "" = don't check subscriptions
    reconcile: bool = True
    reconcile_interval_s: float = 300.0
    overlap_s: float = 600.0          # re-read this much before the watermark (updated_at ties, late writes)
    backfill_s: float = 86_400.0      # the first run looks back this far
    settle_s: float = 60.0            # changes younger than this are left to their webhooks in flight
    page_size: int = 100
    request_timeout_s: float = 20.0


@dataclass(frozen=True, slots=True)
class ShopConfig:
    domain: str
    heartland_account: str
    webhook_secret: Secret | None = None
    previous_webhook_secret: Secret | None = None
    settings: ShopSettings = field(default_factory=ShopSettings)
    shopify: ShopifyConfig | None = None     # no [shops.X.shopify]: mortard only listens (no reconciliation)


@dataclass(frozen=True, slots=True)
class ConsoleUser:
    # "viewer" reads; "operator" also acts (retry, resolve, replay).
    role: Literal["viewer", "operator"]
    # `mortard console hash-password` makes it (scrypt; mortard/console/auth.py). Never the password.
    password_hash: str


@dataclass(frozen=True, slots=True)
class ConsoleConfig:
    """`mortard console`: the web console for the people who run the shop (mortard/console/)."""
    host: str = "127.0.0.1"
    port: int = 9470
    # Signs session cookies; from the environment or a file. Unset: a random key per start (sessions
    # end when the console restarts).
    session_secret_env: str = ""
    session_secret_file: str = ""
    session_ttl_s: int = 8 * 3600
    # Mark cookies Secure (and send HSTS): on when the console is served over HTTPS (a proxy in front).
    cookie_secure: bool = False
    # Failed logins per user and per client address within the window before logins are refused.
    login_max_failures: int = 5
    login_window_s: int = 300
    users: dict[str, ConsoleUser] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Config:
    database: DatabaseConfig = field(default_factory=DatabaseConfig)
    kafka: KafkaConfig = field(default_factory=KafkaConfig)
    daemon: DaemonConfig = field(default_factory=DaemonConfig)
    ingest: IngestConfig = field(default_factory=IngestConfig)
    logging: LoggingConfig = field(default_factory=LoggingConfig)
    dialect: Dialect = field(default_factory=Dialect)
    accounts: dict[str, AccountConfig] = field(default_factory=dict)
    shops: dict[str, ShopConfig] = field(default_factory=dict)
    database_password: Secret | None = None
    console: ConsoleConfig = field(default_factory=ConsoleConfig)
    console_session_secret: Secret | None = None

    def account_for(self, shop: str) -> AccountConfig:
        return self.accounts[self.shops[shop].heartland_account]


# -- loading -------------------------------------------------------------------------------------

def load_config(path: str | Path | None = None, env: Mapping[str, str] | None = None, *,
                defer_secrets: bool = False) -> Config:
    """Read the TOML file (optional), apply MORTARD_* overrides, and validate everything."""
    env = os.environ if env is None else env
    if defer_secrets:
        env = _SecretsLater(env)
    data: dict[str, Any] = {}
    if path is not None:
        try:
            data = tomllib.loads(Path(path).read_text())
        except FileNotFoundError:
            raise ConfigError(f"config file {path} does not exist") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"config file {path} is not valid TOML: {exc}") from None
    _apply_env_overrides(data, env)
    return config_from_dict(data, env)


def config_from_dict(data: Mapping[str, Any], env: Mapping[str, str] | None = None) -> Config:
    env = os.environ if env is None else env
    data = dict(data)
    known = {"database", "kafka", "daemon", "ingest", "logging", "heartland", "shops", "console"}
    for key in data:
        if key not in known:
            raise ConfigError(f"unknown config section [{key}]: expected one of {', '.join(sorted(known))}")
    heartland = dict(data.get("heartland") or {})
    for key in heartland:
        if key not in ("accounts", "dialect"):
            raise ConfigError(f"unknown key heartland.{key}: expected accounts or dialect")
    accounts = {name: _account(name, raw, env) for name, raw in _table(heartland, "accounts", "heartland").items()}
    shops = {domain: _shop(domain, raw, env, accounts) for domain, raw in _table(data, "shops", "").items()}
    db = build(DatabaseConfig, data.get("database") or {}, "database")
    console = build(ConsoleConfig, data.get("console") or {}, "console")
    kafka = _kafka(data.get("kafka") or {}, env)
    return Config(
        database=db,
        kafka=kafka,
        daemon=build(DaemonConfig, data.get("daemon") or {}, "daemon"),
        ingest=build(IngestConfig, data.get("ingest") or {}, "ingest"),
        logging=build(LoggingConfig, data.get("logging") or {}, "logging"),
        dialect=build(Dialect, heartland.get("dialect") or {}, "heartland.dialect"),
        accounts=accounts,
        shops=shops,
        database_password=_secret(db.password_env, db.password_file, env, "database.password", required=False),
        console=console,
        console_session_secret=_secret(console.session_secret_env, console.session_secret_file, env,
                                       "console.session_secret", required=False),
    )


def _table(data: Mapping[str, Any], key: str, prefix: str) -> dict[str, Any]:
    value = data.get(key) or {}
    if not isinstance(value, dict):
        raise ConfigError(f"{prefix + '.' if prefix else ''}{key}: expected a table")
    return value


def _kafka(raw: Any, env: Mapping[str, str]) -> KafkaConfig:
    if not isinstance(raw, dict):
        raise ConfigError("kafka: expected a table")
    raw = dict(raw)
    if "sasl_password" in raw:
        raise ConfigError("kafka.sasl_password: put it in the environment (sasl_password_env) or a file "
                          "(sasl_password_file)")
    password = _secret(raw.pop("sasl_password_env", ""), raw.pop("sasl_password_file", ""), env,
                       "kafka.sasl_password", required=False)
    return build(KafkaConfig, {**raw, "sasl_password": password} if password else raw, "kafka")


def _account(name: str, raw: Any, env: Mapping[str, str]) -> AccountConfig:
    where = f"heartland.accounts.{name}"
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: expected a table")
    raw = dict(raw)
    if "token" in raw:
        raise ConfigError(f"{where}.token: put tokens in the environment (token_env) or a file (token_file)")
    token = _secret(raw.pop("token_env", ""), raw.pop("token_file", ""), env, f"{where}.token", required=True)
    return build(AccountConfig, {**raw, "name": name, "token": token}, where)


def _shop(domain: str, raw: Any, env: Mapping[str, str], accounts: Mapping[str, AccountConfig]) -> ShopConfig:
    where = f"shops.{domain}"
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: expected a table")
    raw = dict(raw)
    secret = _secret(raw.pop("webhook_secret_env", ""), raw.pop("webhook_secret_file", ""), env,
                     f"{where}.webhook_secret", required=False)
    previous = _secret(raw.pop("previous_webhook_secret_env", ""), raw.pop("previous_webhook_secret_file", ""),
                       env, f"{where}.previous_webhook_secret", required=False)
    if "webhook_secret" in raw:
        raise ConfigError(f"{where}.webhook_secret: put secrets in the environment or a file, not the config")
    shopify = _shopify(raw.pop("shopify", None), env, f"{where}.shopify")
    shop = build(ShopConfig, {**raw, "domain": domain, "webhook_secret": secret,
                              "previous_webhook_secret": previous}, where)
    if shopify is not None:
        shop = dataclasses.replace(shop, shopify=shopify)
    if shop.heartland_account not in accounts:
        raise ConfigError(f"{where}.heartland_account: no account {shop.heartland_account!r} under "
                          "[heartland.accounts]")
    return shop


def _shopify(raw: Any, env: Mapping[str, str], where: str) -> ShopifyConfig | None:
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: expected a table")
    raw = dict(raw)
    if "token" in raw or "access_token" in raw:
        raise ConfigError(f"{where}.access_token: put tokens in the environment (access_token_env) or a file "
                          "(access_token_file)")
    token = _secret(raw.pop("access_token_env", ""), raw.pop("access_token_file", ""), env,
                    f"{where}.access_token", required=True)
    return build(ShopifyConfig, {**raw, "token": token}, where)


class MissingSecret(Secret):
    """A secret the configuration names but the environment does not give: fails when used."""

    __slots__ = ("_problem",)

    def __init__(self, problem: str) -> None:
        super().__init__("")
        self._problem = problem

    def reveal(self) -> str:
        raise ConfigError(self._problem)


class _SecretsLater(dict):
    """The environment, marked: secrets it lacks are deferred (`MissingSecret`), not refused."""


def _secret(env_name: str, file_name: str, env: Mapping[str, str], where: str, *, required: bool) -> Secret | None:
    try:
        return _read_secret(env_name, file_name, env, where, required=required)
    except ConfigError as exc:
        if isinstance(env, _SecretsLater):
            return MissingSecret(str(exc))
        raise


def _read_secret(env_name: str, file_name: str, env: Mapping[str, str], where: str, *,
                 required: bool) -> Secret | None:
    if env_name:
        if env_name not in env:
            raise ConfigError(f"{where}: environment variable {env_name} is not set")
        return Secret(env[env_name])
    if file_name:
        try:
            return Secret(Path(file_name).read_text().strip())
        except OSError as exc:
            raise ConfigError(f"{where}: cannot read {file_name}: {exc.strerror}") from None
    if required:
        raise ConfigError(f"{where}: missing; set {where.rsplit('.', 1)[-1]}_env or {where.rsplit('.', 1)[-1]}_file")
    return None


def _apply_env_overrides(data: dict[str, Any], env: Mapping[str, str]) -> None:
    for name, value in env.items():
        if not name.startswith("MORTARD_") or "__" not in name:
            continue
        path = name[len("MORTARD_"):].lower().split("__")
        node = data
        for part in path[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(f"{name}: {'.'.join(path)} is not a table in the config")
        node[path[-1]] = EnvText(value)
