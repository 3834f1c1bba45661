"""The shop's Shopify Admin API table: off when absent, its token only from env or file, and the
example's commented table loads once uncommented."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from mortard.config import ConfigError, config_from_dict, load_config

EXAMPLE = Path(__file__).resolve().parents[3] / "config" / "mortard.example.toml"
ENV = {"MORTARD_DB_PASSWORD": "pw", "MORTARD_HEARTLAND_ACME_TOKEN": "tok-123", "MORTARD_SHOPIFY_ACME_SECRET": "shh",
       "MORTARD_SHOPIFY_ACME_ADMIN_TOKEN": "shpat_x"}


def test_the_example_has_no_shopify_access_until_its_table_is_uncommented(tmp_path):
    cfg = load_config(EXAMPLE, env=ENV)
    assert cfg.shops["acme-outfitters.myshopify.com"].shopify is None
    text = EXAMPLE.read_text()
    block = text[text.index('# [shops."acme-outfitters.myshopify.com".shopify]'):]
    block = block[:block.index("\n\n")]
    uncommented = "\n".join(re.sub(r"^# (?=[a-z_]+ = |\[)", "", ln) for ln in block.splitlines()
                            if not ln.startswith("# access_token_file"))
    path = tmp_path / "m.toml"
    path.write_text(text.replace(block, uncommented))
    shop = load_config(path, env=ENV).shops["acme-outfitters.myshopify.com"]
    assert shop.shopify is not None and shop.shopify.token.reveal() == "shpat_x"
    assert shop.shopify.api_version == "2026-10" and shop.shopify.reconcile_interval_s == 300.0
    assert "shpat_x" not in repr(shop)


@pytest.mark.parametrize("shopify, message", [
    ({}, "shops.s.shopify.access_token: missing"),
    ({"access_token": "inline"}, "put tokens in the environment"),
    ({"access_token_env": "S", "reconcile_interval_s": "often"}, "shops.s.shopify.reconcile_interval_s: expected a number"),
    ({"access_token_env": "S", "nope": 1}, "unknown key shops.s.shopify.nope"),
])
def test_a_wrong_shopify_setting_names_the_key(shopify, message):
    with pytest.raises(ConfigError) as err:
        config_from_dict({"heartland": {"accounts": {"a": {"token_env": "T"}}},
                          "shops": {"s": {"heartland_account": "a", "shopify": shopify}}}, env={"T": "t", "S": "s"})
    assert message in str(err.value)
