"""The overview counts drift, shops missing webhook subscriptions and Heartland accounts refusing their
token from what the daemon stored in Postgres; the drift page and the subscriptions-and-tokens page
show them to any logged-in user, and nobody without a session."""
from __future__ import annotations

import re

from console_support import seed_order
from mortard.store import health_checks
from stack import SHOP, SHOP2, TOKENS

TOPICS_OK = [("orders/create", "ok"), ("orders/updated", "ok")]


def needs(text: str) -> dict[str, int]:
    return {label: int(n) for n, label in re.findall(r"<strong>(\d+)</strong> ([^<]+)</a>", text)}


async def seed_health(pool) -> None:
    await seed_order(pool, 1001, "invoiced", heartland_order_id=501)
    await seed_order(pool, 1002, "pending", heartland_order_id=502)
    await seed_order(pool, 1003, "invoiced", shop=SHOP2, heartland_order_id=503)
    for shop, order_id, kind, detail, fp in (
            (SHOP, 1001, "heartland_edited", {"status": {"was": "closed", "now": "open"}}, "a"),
            (SHOP, 1001, "staff_disagrees", {"lines": {"was": 2, "now": 3}}, "b"),
            (SHOP2, 1003, "heartland_edited", {"status": {"was": "closed", "now": "cancelled"}}, "c")):
        await pool.execute("INSERT INTO order_drift (shop, order_id, kind, detail, fingerprint) "
                           "VALUES ($1, $2, $3, $4, $5)", shop, order_id, kind, detail, fp)
    await health_checks.record_subscriptions(pool, SHOP, "https://mortard.example/webhooks/shopify", "2025-07",
                                             [("orders/create", "ok"), ("orders/updated", "missing"),
                                              ("refunds/create", "elsewhere")])
    await health_checks.record_subscriptions(pool, SHOP2, "https://mortard.example/webhooks/shopify", "2025-07",
                                             TOPICS_OK)
    await health_checks.record_token_check(pool, "acme", refused=True, status=401,
                                           detail="Heartland said: missing or wrong bearer token -> 401")
    await health_checks.record_token_check(pool, "globex", refused=False, status=200, detail="")


async def logged_in(console, user: str):
    b = console()
    assert (await b.login(user))[0] == 303
    return b


async def test_the_overview_counts_drift_missing_subscriptions_and_refused_tokens(console, pool):
    await seed_health(pool)
    status, text, _ = await (await logged_in(console, "victor")).get("/")
    assert status == 200
    n = needs(text)
    assert n["orders changed in Heartland by staff (drift)"] == 2     # two orders, three changes
    assert n["shops missing webhook subscriptions"] == 1
    assert n["Heartland accounts refusing their token"] == 1
    assert 'href="/drift"' in text and 'href="/webhooks"' in text       # the nav links


async def test_the_overview_counts_zero_when_the_checks_found_nothing(console, pool):
    await health_checks.record_subscriptions(pool, SHOP, "https://x.example/w", "2025-07", TOPICS_OK)
    await health_checks.record_token_check(pool, "acme", refused=True, status=401, detail="no")
    await health_checks.record_token_check(pool, "acme", refused=False, status=200, detail="")
    _, text, _ = await (await logged_in(console, "alice")).get("/")
    n = needs(text)
    assert n["shops missing webhook subscriptions"] == 0
    assert n["Heartland accounts refusing their token"] == 0
    row = await pool.fetchrow("SELECT refused, refused_since FROM heartland_token_checks WHERE account = 'acme'")
    assert row["refused"] is False and row["refused_since"] is None


async def test_a_viewer_sees_the_drift_page_one_row_per_order_filterable_by_shop(console, pool):
    await seed_health(pool)
    b = await logged_in(console, "victor")
    status, text, _ = await b.get("/drift")
    assert status == 200
    rows = re.findall(r'<tr class="drift-row">(.*?)</tr>', text, re.S)
    assert len(rows) == 2
    mine = next(r for r in rows if f"/orders/{SHOP}/1001" in r)
    assert "<code>heartland_edited</code>" in mine and "<code>staff_disagrees</code>" in mine
    assert re.search(r"<td>2</td>", mine)                                # two changes noticed
    assert text.count('method="post"') == 1                            # read only: just the logout
    status, text, _ = await b.get(f"/drift?shop={SHOP2}")
    rows = re.findall(r'<tr class="drift-row">(.*?)</tr>', text, re.S)
    assert len(rows) == 1 and f"/orders/{SHOP2}/1003" in rows[0] and "cancelled" in rows[0]


async def test_a_viewer_sees_which_topics_each_shop_misses_and_which_account_refuses_its_token(console, pool):
    await seed_health(pool)
    status, text, _ = await (await logged_in(console, "victor")).get("/webhooks")
    assert status == 200
    subs = re.findall(r'<tr class="subscription-row ?(\w*)">(.*?)</tr>', text, re.S)
    by_shop = {re.search(r"<td>([^<]+)</td>", r).group(1): (cls, r) for cls, r in subs}
    cls, row = by_shop[SHOP]
    assert cls == "some" and "<strong>2</strong>" in row
    assert "<code>orders/updated</code> missing" in row and "<code>refunds/create</code> elsewhere" in row
    assert "orders/create" not in row
    assert by_shop[SHOP2][0] == "" and "all delivered" in by_shop[SHOP2][1]
    tokens = re.findall(r'<tr class="token-row ?(\w*)">(.*?)</tr>', text, re.S)
    by_account = {re.search(r"<td>([^<]+)</td>", r).group(1): (cls, r) for cls, r in tokens}
    assert by_account["acme"][0] == "some" and "<strong>refused</strong> (401)" in by_account["acme"][1]
    assert by_account["globex"][0] == "" and "accepted" in by_account["globex"][1]
    for secret in TOKENS.values():
        assert secret not in text


async def test_without_a_session_the_drift_and_subscription_pages_go_to_the_login_form(console, pool):
    await seed_health(pool)
    b = console()
    for path in ("/drift", "/webhooks", "/drift?shop=x"):
        status, text, r = await b.get(path)
        assert status == 303, path
        assert r.headers["Location"].startswith("/login?next="), path
        assert "cancelled" not in text and "refused" not in text
