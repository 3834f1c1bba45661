"""`mortard shops show|set|add`: config settings, DB overrides on top, validated like the config."""
from __future__ import annotations

from mortard.app import effective_shop_settings
from stack import SHOP, SHOP2

CONFIGURED = {"order_prefix": "S-", "location_priority": ["S02", "S01"]}


async def test_show_prints_effective_settings_and_marks_where_each_comes_from(make_ops, pool):
    ops = await make_ops(shop_settings=CONFIGURED)
    await pool.execute("INSERT INTO shops (shop, heartland_account, settings) VALUES ($1, 'acme', $2)",
                       SHOP, {"auto_invoice": False})
    code, out, err = await ops.run("shops", "show", SHOP)
    assert code == 0, err
    assert out.startswith(f"{SHOP}  (Heartland account acme; in the config file, registered in the database)")
    rows = {ln.split()[0]: ln for ln in out.splitlines() if ln.startswith("  ") and len(ln.split()) >= 3}
    assert rows["auto_invoice"].split()[1:] == ["false", "override"]
    assert rows["order_prefix"].split()[1:] == ["S-", "config"]
    assert rows["location_priority"].split()[1:] == ["S02,", "S01", "config"]
    assert rows["routing"].split()[1:] == ["priority", "default"]
    assert "1 override(s): auto_invoice" in out

    doc = await ops.json("shops", "show")
    shops = {s["shop"]: s for s in doc["shops"]}
    assert set(shops) == {SHOP, SHOP2}
    acme = shops[SHOP]
    assert acme["overridden"] == ["auto_invoice"] and acme["overrides"] == {"auto_invoice": False}
    assert acme["settings"]["auto_invoice"] is False and acme["settings"]["location_priority"] == ["S02", "S01"]
    assert acme["settings"]["payment_types"] == {"*": "Shopify", "gift_card": "Gift Card"}
    assert shops[SHOP2]["registered"] is False and shops[SHOP2]["overridden"] == []


async def test_set_stores_only_overrides_which_the_daemon_then_uses(make_ops, pool):
    ops = await make_ops(shop_settings=CONFIGURED)
    code, out, err = await ops.run(
        "shops", "set", SHOP, "auto_invoice=no", "tag_ignore=wholesale, staff", "backorder_location=S03",
        'payment_types={"*": "Shopify", "paypal": "PayPal"}', 'tag_locations={"local": ["S01"]}')
    assert code == 0, err
    assert "auto_invoice = false  (override stored)" in out and "restart it to apply" in out
    stored = await pool.fetchval("SELECT settings FROM shops WHERE shop = $1", SHOP)
    assert stored == {"auto_invoice": False, "tag_ignore": ["wholesale", "staff"], "backorder_location": "S03",
                      "payment_types": {"*": "Shopify", "paypal": "PayPal"}, "tag_locations": {"local": ["S01"]}}
    eff = (await effective_shop_settings(pool, ops.config.shops))[SHOP]
    assert eff.auto_invoice is False and eff.tag_ignore == ("wholesale", "staff") and eff.order_prefix == "S-"
    assert eff.tag_locations == {"local": ("S01",)} and eff.backorder_location == "S03"

    # Setting a key back to the config file's value removes the override; `none` clears an optional one.
    doc = await ops.json("shops", "set", SHOP, "order_prefix=S-", "auto_invoice=true", "backorder_location=none")
    assert [(c["key"], c["override"]) for c in doc["changed"]] == [
        ("order_prefix", False), ("auto_invoice", False), ("backorder_location", False)]
    assert doc["shop"]["overridden"] == ["payment_types", "tag_ignore", "tag_locations"]
    stored = await pool.fetchval("SELECT settings FROM shops WHERE shop = $1", SHOP)
    assert set(stored) == {"tag_ignore", "payment_types", "tag_locations"}


async def test_set_refuses_unknown_keys_and_bad_values_with_one_line(make_ops, pool):
    ops = await make_ops()
    cases = {
        ("auto_invoise=false",): "mortard: unknown setting 'auto_invoise': expected one of auto_invoice, ",
        ("auto_invoice=maybe",): "mortard: auto_invoice: expected true or false, got 'maybe'",
        ("routing=nearest",): "mortard: shops.acme-store.myshopify.com.settings: routing must be 'priority' or "
                              "'shopify_location', not 'nearest'",
        ("payment_types=[1]",): "mortard: payment_types: expected a JSON object",
        ("payment_types={bad",): "mortard: payment_types: not valid JSON",
        ('custom_fields={"po": "email:x"}',): "mortard: shops.acme-store.myshopify.com.settings: custom_fields.po: ",
        ("auto_invoice",): "mortard: expected KEY=VALUE, got 'auto_invoice'",
    }
    for argv, message in cases.items():
        code, out, err = await ops.run("shops", "set", SHOP, *argv)
        assert code == 1 and out == "", (argv, code, out, err)
        assert err.startswith(message) and err.count("\n") == 1, (argv, err)
    code, _, err = await ops.run("shops", "set", "ghost.myshopify.com", "auto_invoice=false")
    assert code == 1 and err.startswith("mortard: unknown shop ghost.myshopify.com")
    assert await pool.fetchval("SELECT count(*) FROM shops") == 0


async def test_add_registers_a_shop_with_its_account(make_ops, pool, operator_flags):
    ops = await make_ops()
    code, out, err = await ops.run("shops", "add", "new-shop.myshopify.com", "--account", "globex")
    assert code == 0, err
    assert out.startswith("new-shop.myshopify.com: added (Heartland account globex)")
    assert "webhook_secret_env" in out     # the secret is never stored: it comes from the config/env
    row = await pool.fetchrow("SELECT heartland_account, settings FROM shops WHERE shop = 'new-shop.myshopify.com'")
    assert row["heartland_account"] == "globex" and row["settings"] == {}
    code, out, _ = await ops.run("shops", "add", "new-shop.myshopify.com", "--account", "globex")
    assert code == 0 and "already registered" in out
    code, _, err = await ops.run("shops", "add", "new-shop.myshopify.com", "--account", "acme")
    assert code == 1 and err == "mortard: new-shop.myshopify.com is already registered with account 'globex'\n"
    code, _, err = await ops.run("shops", "add", "other.myshopify.com", "--account", "initech")
    assert code == 1 and err.startswith("mortard: no Heartland account 'initech' in the config file")
    # A configured shop takes its account from the config file.
    doc = await ops.json("shops", "add", SHOP)
    assert doc["status"] == "added" and doc["shop"]["heartland_account"] == "acme"
    code, _, err = await ops.run("shops", "add", "third.myshopify.com")
    assert code == 1 and err.startswith("mortard: shops add third.myshopify.com needs --account")
