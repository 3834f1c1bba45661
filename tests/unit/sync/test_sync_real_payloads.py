"""Shopify's own payloads (tests/fixtures/shopify, sources in its README) through the parser and the
planner: every order, refund and transaction body of Shopify's REST API-library fixtures for API
versions 2024-01 to 2025-10, and the refund resource sample of Shopify's REST docs.

Money is checked to the cent against Shopify's own figures in the same payload (totals, current totals,
refund transactions), and each payload is planned to convergence against the fake Heartland of
test_sync_changes.py, which refuses what a real account refuses."""
from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from mortard.sync.model import InvalidOrder, Item, Refund, ShopifyOrder
from mortard.sync.money import CENT
from mortard.sync.settings import ShopSettings
from test_sync_changes import EAST, ITEMS, Heartland, net_money, shopify_net

D = Decimal
HERE = Path(__file__).resolve().parents[2] / "fixtures" / "shopify"
INDEX = json.loads((HERE / "index.json").read_text())
ZERO = D("0.00")


def _body(entry: dict[str, Any]) -> dict[str, Any]:
    return json.loads((HERE / entry["file"]).read_text())


def _orders(body: dict[str, Any]) -> list[dict[str, Any]]:
    return [body["order"]] if "order" in body else list(body.get("orders", []))


ORDERS = [pytest.param(e, i, raw, id=f"{e['file']}[{i}]") for e in INDEX if e["resource"] == "order"
          for i, raw in enumerate(_orders(_body(e)))]
REFUNDS = [pytest.param(e, id=e["file"]) for e in INDEX if e["resource"] == "refund"]
TRANSACTIONS = [pytest.param(e, id=e["file"]) for e in INDEX if e["resource"] == "transaction"]

# Shopify's POST /orders/{id}/cancel.json fixtures: every line's current_quantity fell (to 0, or 1 of 3
# lines refunded) but the current_* totals are still the original order's. The payload contradicts
# itself, so its current figures are not a yardstick; its original totals still are.
STALE_CURRENT_TOTALS = {"order_test_14.json", "order_test_15.json"}


def test_the_corpus_holds_shopifys_payloads_across_api_versions():
    versions = {e["api_version"] for e in INDEX}
    assert {"2024-01", "2024-10", "2025-01", "2025-07"} <= versions
    assert len(ORDERS) >= 50 and len(REFUNDS) >= 8 and len(TRANSACTIONS) >= 14
    assert all(e["source"].startswith("https://github.com/Shopify/shopify-api-ruby/blob/") for e in INDEX)


# -- orders ------------------------------------------------------------------------------------------

def _shop(raw: dict[str, Any], key: str) -> Decimal | None:
    """Shopify's own figure for `key`, in shop money."""
    bag = raw.get(f"{key}_set")
    if isinstance(bag, dict) and isinstance(bag.get("shop_money"), dict):
        return D(str(bag["shop_money"]["amount"]))
    return D(str(raw[key])) if raw.get(key) not in (None, "") else None


def _shipping_tax(raw: dict[str, Any]) -> Decimal:
    return sum((D(str(t["price"])) for s in raw.get("shipping_lines") or [] for t in s.get("tax_lines") or []), ZERO)


@pytest.mark.parametrize(("entry", "n", "raw"), ORDERS)
def test_every_order_parses_and_its_money_matches_shopifys_totals_to_the_cent(entry, n, raw):
    if "line_items" not in raw:
        # GET …?fields=created_at,id,name,total-price: a field selection, not an order to sync.
        assert "fields=" in entry["request"]
        with pytest.raises(InvalidOrder, match="no line items"):
            ShopifyOrder.parse(raw)
        return
    o = ShopifyOrder.parse(raw)
    assert o.id == raw["id"] and len(o.lines) == len(raw["line_items"])
    assert o.currency == (raw.get("currency") or "USD") and o.money_problems == ()
    gross = sum((ln.price * ln.quantity for ln in o.lines), ZERO)
    net = gross - sum((ln.discount for ln in o.lines), ZERO)
    tax = sum((ln.tax for ln in o.lines), _shipping_tax(raw))
    if "total_line_items_price" in raw:
        assert gross == _shop(raw, "total_line_items_price")
    if "total_discounts" in raw:
        assert gross - net == _shop(raw, "total_discounts")
    if "total_tax" in raw:
        assert tax == _shop(raw, "total_tax")
    shipping = sum((_shop(s, "discounted_price") or _shop(s, "price") or ZERO for s in raw.get("shipping_lines") or []), ZERO)
    assert o.total_price == net + shipping + (ZERO if o.taxes_included else tax)
    if "current_total_price" in raw and Path(entry["file"]).name not in STALE_CURRENT_TOTALS:
        def current(value: Decimal, qty: int, of: int) -> Decimal:
            return (value * qty / of).quantize(CENT)
        cur_tax = sum((current(ln.tax, ln.current_quantity, ln.quantity) for ln in o.lines), ZERO)
        cur_net = sum((current(ln.price * ln.quantity - ln.discount, ln.current_quantity, ln.quantity) for ln in o.lines), ZERO)
        assert o.current_total_tax == cur_tax == _shop(raw, "current_total_tax")
        assert o.current_total_price == cur_net + cur_tax + o.shipping == _shop(raw, "current_total_price")


def _items(*orders: ShopifyOrder) -> dict[str, Item]:
    skus = {ln.sku for o in orders for ln in o.lines if ln.sku}
    return {**ITEMS, **{sku: Item(600 + i, sku, D("1.00")) for i, sku in enumerate(sorted(skus))},
            "MISC": Item(900, "MISC", ZERO, track_inventory=False)}


def _heartland(*orders: ShopifyOrder) -> Heartland:
    items = _items(*orders)
    return Heartland({(it.id, EAST): 50 for it in items.values() if it.track_inventory}, items=items)


def _settings(o: ShopifyOrder) -> ShopSettings:
    # No-SKU lines (custom items) go on the shop's placeholder item, as a shop that sells them sets it.
    return ShopSettings(location_priority=("EAST", "WEST"), currency=o.currency, unknown_item="placeholder")


def _converged(hl: Heartland, o: ShopifyOrder):
    p = hl.deliver(o, _settings(o))
    n = len(hl.log)
    assert hl.deliver(o, _settings(o)) == p and len(hl.log) == n, "a converged order planned more"
    return p


def _check_heartland(hl: Heartland, o: ShopifyOrder, p) -> None:
    """What a person relies on: Heartland's money is Shopify's, and an order left open balances."""
    m = hl.mirror
    if m.order_id is None:
        assert p.state in ("cancelled", "ignored") and not hl.log
        return
    assert net_money(hl) == shopify_net(o), (p, m.payments_total, [t.total for t in m.tickets])
    if m.status in ("open", "pending") and p.state != "pending":
        assert m.order_total == m.payments_total
    if p.state == "pending":
        assert p.reasons and all(r.message for r in p.reasons)


@pytest.mark.parametrize(("entry", "n", "raw"), [p for p in ORDERS if "line_items" in p.values[2]])
def test_every_order_plans_to_a_state_whose_money_is_shopifys(entry, n, raw):
    o = ShopifyOrder.parse(raw)
    hl = _heartland(o)
    p = _converged(hl, o)
    _check_heartland(hl, o, p)
    if o.cancelled:
        assert p.state == "cancelled" and not hl.log
    elif o.billing_address is None and o.shipping_address is None:
        # Null customer or pickup: Heartland can't open it; it waits, pending, saying so.
        assert p.state == "pending" and "missing_addresses" in [x.code for x in p.reasons]
        assert hl.mirror.status == "pending"
    elif all(ln.current_quantity for ln in o.lines) and o.payments and o.current_total_price == o.total_price \
            and sum((x.amount for x in o.payments), ZERO) == o.total_price:
        # A paid order, nothing refunded, every unit in stock: created, invoiced and closed, to the cent.
        assert p.state == "invoiced" and hl.mirror.status == "closed"
        assert hl.mirror.order_total == hl.mirror.payments_total == o.total_price


def _base(version: str) -> dict[str, Any]:
    """Order 450789469 as the same generation of fixtures has it (the one its refunds and transactions
    belong to): the full GET /orders/450789469.json body."""
    year = "2025-01" if version >= "2025" else "2024-01"
    return json.loads((HERE / year / "order_test_8.json").read_text())["order"]


def test_shopifys_sample_order_is_a_partial_refund_whose_transaction_explains_less_than_its_lines():
    """Order #1001 of Shopify's fixtures: refund 509562969 gives back two lines (399.29 with tax) but its
    transaction refunds only 209.00. mortard keeps the kept line, takes the refund as Shopify's money says,
    and leaves the difference to staff with the figures."""
    o = ShopifyOrder.parse(_base("2025-07"))
    (r,) = o.refunds
    assert sum((rl.subtotal + rl.tax for rl in r.lines), ZERO) == D("399.29") and r.amount == D("209.00")
    assert [ln.current_quantity for ln in o.lines] == [0, 1, 0] and o.current_total_price == D("199.65")
    hl = _heartland(o)
    p = _converged(hl, o)
    # The order waits unopened (pending in Heartland) with both figures for staff.
    assert p.state == "pending" and [x.code for x in p.reasons] == ["total_mismatch"]
    assert p.reasons[0].message == "order total 199.65 does not equal payments 389.94"
    assert hl.mirror.status == "pending" and net_money(hl) == D("598.94") - D("209.00")
    # Received money and the refund are two payments, as Shopify has them.
    assert [x.amount for x in hl.mirror.payments] == [D("598.94"), D("-209.00")]


# -- refunds -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("entry", REFUNDS)
def test_every_refund_parses_to_shopifys_figures_to_the_cent(entry):
    body = _body(entry)
    for raw in ([body["refund"]] if "refund" in body else body["refunds"]):
        refund, problems = Refund.parse(raw, "USD")
        assert problems == ()
        assert refund.amount == sum((D(t["amount"]) for t in raw["transactions"]
                                     if t["kind"] == "refund" and t["status"] == "success"), ZERO)
        assert [(rl.line_id, rl.quantity, rl.restock_type, rl.subtotal, rl.tax) for rl in refund.lines] == [
            (rl["line_item_id"], rl["quantity"], rl["restock_type"], _shop(rl, "subtotal"), _shop(rl, "total_tax"))
            for rl in raw["refund_line_items"]]
        lines = raw.get("refund_shipping_lines") or []
        adjusted = -sum((_shop(a, "amount") for a in raw["order_adjustments"] if a.get("kind") == "shipping_refund"), ZERO)
        # 2024 payloads give refunded shipping as an adjustment only; 2025 ones as refund_shipping_lines and
        # the same money again as an adjustment: counted once either way.
        assert refund.shipping == (sum((_shop(sl, "subtotal_amount") for sl in lines), ZERO) if lines else adjusted)
        if lines and adjusted:
            assert refund.shipping == adjusted


@pytest.mark.parametrize("entry", REFUNDS)
def test_every_refund_delivered_before_its_order_update_leaves_heartland_with_shopifys_money(entry):
    """refunds/create reaches mortard with only the order's older snapshot (its own refunds list lacks
    this refund): Heartland must end as the state after the refund, and stay there once the order's
    own update arrives with the refund in it."""
    body = _body(entry)
    raw_refunds = [body["refund"]] if "refund" in body else body["refunds"]
    base = _base(entry["api_version"])
    before = ShopifyOrder.parse(base)
    hl = _heartland(before)
    _check_heartland(hl, before, _converged(hl, before))
    for raw in raw_refunds:
        if str(raw["id"]) in {str(r["id"]) for r in base["refunds"]}:
            continue    # the snapshot already has it
        early = ShopifyOrder.parse(base, {str(raw["id"]): raw})
        assert not next(r for r in early.refunds if r.id == raw["id"]).in_snapshot
        _check_heartland(hl, early, _converged(hl, early))
        late = ShopifyOrder.parse({**base, "refunds": [*base["refunds"], raw]})
        n = len(hl.log)
        _check_heartland(hl, late, _converged(hl, late))
        assert early.refunded == late.refunded and len(hl.log) == n


def test_the_docs_refund_sample_in_two_currencies_is_read_in_shop_money_and_its_usd_payment_is_refused():
    """The Refund resource sample of Shopify's REST docs: a CAD shop, a USD buyer. Its plain fields disagree
    with its shop money (total_tax 2.67 against total_tax_set 1.67 CAD); the *_set figures win, shipping is
    5.00 CAD (not the buyer's 3.65 USD), and the 209.00 USD transaction is not added to CAD money."""
    raw = json.loads((HERE / "docs" / "refund_resource_2025-10.json").read_text())
    refund, problems = Refund.parse(raw, "CAD")
    (line,) = refund.lines
    assert (line.line_id, line.quantity, line.restock_type, line.subtotal, line.tax) == (128323456, 2, "return", D("10.99"), D("1.67"))
    assert (refund.shipping, refund.shipping_tax, refund.discrepancy) == (D("5.00"), ZERO, D("-10.00"))
    assert refund.amount == ZERO
    assert problems == ("refund 92738740 paid back 209.00 USD, and Shopify sends no CAD amount for it",)


# -- transactions ------------------------------------------------------------------------------------

@pytest.mark.parametrize("entry", TRANSACTIONS)
def test_every_transaction_counts_as_shopify_says_and_plans_to_shopifys_money(entry):
    body = _body(entry)
    txs = body["transactions"] if "transactions" in body else [body["transaction"]]
    base = _base(entry["api_version"])
    o = ShopifyOrder.parse(base, transactions={str(t["id"]): t for t in txs})
    received = sum((D(t["amount"]) for t in txs if t["kind"] in ("sale", "capture") and t["status"] == "success"), ZERO)
    if received:
        assert sum((p.amount for p in o.payments), ZERO) == received
        assert {p.gateway for p in o.payments} == {t["gateway"] for t in txs if t["kind"] in ("sale", "capture")}
    else:
        # No sale or capture (an authorization, a void, a refund): the order's own figures say what it got.
        assert [p.amount for p in o.payments] == [D(base["total_price"])]
    hl = _heartland(o)
    _check_heartland(hl, o, _converged(hl, o))


def test_a_capture_after_the_sample_order_closed_is_reported_not_dropped():
    """Shopify's 2025-07 capture of 10.00 arriving once Heartland has closed order #1001 (all its current
    units invoiced, refund taken): Heartland can't take it, so the order waits with the amount."""
    base = _base("2025-07")
    capture = json.loads((HERE / "2025-01" / "transaction_test_3.json").read_text())["transaction"]
    assert (capture["kind"], capture["amount"]) == ("capture", "10.00")
    # The order as if its 209.00 refund had given back exactly its lines: it balances and closes.
    fixed = json.loads(json.dumps(base))
    fixed["refunds"][0]["transactions"][0]["amount"] = "399.29"
    o = ShopifyOrder.parse(fixed)
    hl = _heartland(o)
    assert _converged(hl, o).state == "invoiced" and hl.mirror.status == "closed"
    sale = {"id": 1, "kind": "sale", "status": "success", "amount": "598.94", "currency": "USD", "gateway": "bogus"}
    late = ShopifyOrder.parse(fixed, transactions={"1": sale, str(capture["id"]): capture})
    p = _converged(hl, late)
    assert p.state == "pending" and [x.code for x in p.reasons] == ["payment_after_close"]
    assert "10.00 was paid after Heartland closed the order" in p.reasons[0].message
