"""How the operator's commands behave around their output: JSON errors, a reader that leaves
(`| head`), no Heartland tokens on the host, shops named the short way."""
from __future__ import annotations

import json
import subprocess
import sys

from stack import SHOP, SHOP2
from test_operator_orders import seed_order


async def test_a_failure_under_json_is_a_json_document_on_stdout(make_ops, pool):
    ops = await make_ops()
    code, out, err = await ops.run("orders", "show", SHOP, "#4242", "--json")
    assert code == 1
    doc = json.loads(out)
    assert doc["error"]["exit_code"] == 1 and "no order #4242" in doc["error"]["message"]
    assert err.startswith("mortard: no order #4242")


async def test_read_only_commands_need_no_heartland_token_and_plan_names_the_one_it_lacks(
        make_ops, pool, monkeypatch):
    ops = await make_ops()
    await seed_order(pool, 1001, "pending", reasons=[{"code": "unknown_item", "message": "no item"}])
    monkeypatch.delenv("ACME_TOKEN")
    monkeypatch.delenv("GLOBEX_TOKEN")
    code, out, err = await ops.run("orders", "list")
    assert code == 0 and "#1001" in out, err
    code, out, err = await ops.run("orders", "show", SHOP, "#1001")
    assert code == 0 and "#1001" in out, err
    code, out, err = await ops.run("shops", "show", SHOP)
    assert code == 0, err
    assert "sandbox-token" not in out
    code, out, err = await ops.run("dlq", "list")
    assert code == 0, err
    code, out, err = await ops.run("orders", "plan", SHOP, "#1001")
    assert code == 78
    assert err.strip() == "mortard: heartland.accounts.acme.token: environment variable ACME_TOKEN is not set"


async def test_a_shop_is_found_by_its_short_name(make_ops, pool):
    ops = await make_ops()
    await seed_order(pool, 1001, "pending")
    await seed_order(pool, 2001, "dead", shop=SHOP2)
    doc = await ops.json("orders", "show", "acme-store", "#1001")
    assert doc["order"]["shop"] == SHOP
    doc = await ops.json("orders", "list", "--shop", "globex-store")
    assert [(o["shop"], o["order_id"]) for o in doc["orders"]] == [(SHOP2, 2001)]


async def test_a_reader_that_leaves_early_ends_the_command_quietly(make_ops, pool):
    ops = await make_ops()
    for i in range(400):   # over 64 KB of table: more than a pipe holds
        await seed_order(pool, 3000 + i, "dead", last_error="HeartlandServerError: 503 " + "x" * 200)
    # `mortard orders list | head -1` in a real shell: Python must not print a BrokenPipe traceback.
    proc = subprocess.run(
        f"'{sys.executable}' -m mortard orders list --limit 400 --config '{ops.path}' | head -1",
        shell=True, capture_output=True, text=True, timeout=60, executable="/bin/bash")
    assert proc.stdout.startswith("SHOP")
    assert proc.stderr == "", proc.stderr
