"""The example config loads, env overrides apply, and bad settings stop with one line naming the key."""
from __future__ import annotations

from pathlib import Path

import pytest

from mortard.config import ConfigError, config_from_dict, load_config

EXAMPLE = Path(__file__).resolve().parents[3] / "config" / "mortard.example.toml"
ENV = {"MORTARD_DB_PASSWORD": "pw", "MORTARD_HEARTLAND_ACME_TOKEN": "tok-123", "MORTARD_SHOPIFY_ACME_SECRET": "shh"}


def test_the_example_config_loads_with_its_secrets_from_the_environment():
    cfg = load_config(EXAMPLE, env=ENV)
    shop = cfg.shops["acme-outfitters.myshopify.com"]
    assert shop.settings.auto_invoice is True and shop.settings.customer_match == ("email", "phone")
    assert cfg.accounts["acme"].token.reveal() == "tok-123"
    assert shop.webhook_secret is not None and shop.webhook_secret.reveal() == "shh"
    assert cfg.database_password is not None and cfg.database_password.reveal() == "pw"


def test_environment_overrides_reach_nested_keys_with_types():
    cfg = load_config(EXAMPLE, env={**ENV, "MORTARD_KAFKA__BOOTSTRAP": "k:9092", "MORTARD_DAEMON__LEASE_S": "12.5",
                                    "MORTARD_KAFKA__IDEMPOTENT_PRODUCER": "false"})
    assert cfg.kafka.bootstrap == "k:9092" and cfg.daemon.lease_s == 12.5 and cfg.kafka.idempotent_producer is False


def test_secrets_never_show_in_reprs():
    cfg = load_config(EXAMPLE, env=ENV)
    text = repr(cfg)
    assert "tok-123" not in text and "shh" not in text and "pw'" not in text


@pytest.mark.parametrize("data, message", [
    ({"daemon": {"ops_port": "x"}}, "daemon.ops_port: expected a whole number"),
    ({"daemon": {"nope": 1}}, "unknown key daemon.nope"),
    ({"kafka": {"commit_interval_s": True}}, "kafka.commit_interval_s: expected a number"),
    ({"heartland": {"accounts": {"a": {}}}}, "heartland.accounts.a.token: missing"),
    ({"heartland": {"accounts": {"a": {"token": "inline"}}}}, "put tokens in the environment"),
    ({"heartland": {"accounts": {"a": {"token_env": "T"}}}, "shops": {"s": {"heartland_account": "b"}}},
     "shops.s.heartland_account: no account 'b'"),
    ({"heartland": {"accounts": {"a": {"token_env": "T"}}},
      "shops": {"s": {"heartland_account": "a", "settings": {"routing": "random"}}}}, "routing must be"),
    ({"bogus": {}}, "unknown config section [bogus]"),
])
def test_a_wrong_setting_names_the_key_and_what_was_expected(data, message):
    with pytest.raises(ConfigError) as err:
        config_from_dict(data, env={"T": "t"})
    assert message in str(err.value)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize(("accounts", "configured", "used"), [(1, 64, 64), (32, 64, 64), (33, 64, 66), (200, 64, 400),
                                                               (200, 500, 500)])
def test_every_account_gets_room_for_two_orders_in_flight(accounts, configured, used):
    from mortard.app import orders_in_flight
    cfg = config_from_dict({"heartland": {"accounts": {f"a{i}": {"token_env": "T"} for i in range(accounts)}},
                            "daemon": {"max_orders_in_flight": configured}}, env={"T": "t"})
    assert orders_in_flight(cfg) == used
