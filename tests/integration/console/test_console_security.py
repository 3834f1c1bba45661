"""The console's rules: login first, roles, CSRF and same-origin on every POST, rate-limited failed
logins, signed expiring sessions, secure headers, and no secret in any page."""
from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import structlog.testing

from console_support import HASHES, PASSWORDS, SECRET, console_config, seed_letter, seed_order
from mortard.console.sessions import COOKIE
from stack import SHOP, TOKENS

PAGES = ["/", "/queues?kind=pending", "/queues?kind=dead", "/queues?kind=waiting", "/queues?kind=failed",
         "/queues?kind=dead-letters", f"/orders/{SHOP}/1001", f"/orders/{SHOP}/1001/plan"]
ACTIONS = [f"/orders/{SHOP}/1001/retry", f"/orders/{SHOP}/1001/resolve", "/queues/retry", "/dead-letters/1/replay"]


async def _state(pool, order_id=1001):
    return dict(await pool.fetchrow("SELECT sync_state, attempts, due_seq FROM orders WHERE order_id = $1", order_id))


async def test_without_a_session_every_page_and_action_goes_to_the_login_form(console, pool):
    await seed_order(pool, 1001, "dead", attempts=12)
    await seed_letter(pool, 5)
    before = await _state(pool)
    b = console()
    for path in PAGES:
        status, _, r = await b.get(path)
        assert status == 303, path
        assert r.headers["Location"].startswith("/login?next="), path
    status, _, r = await b.get("/queues?kind=dead")
    assert parse_qs(urlsplit(r.headers["Location"]).query) == {"next": ["/queues?kind=dead"]}
    for path in ACTIONS:
        status, _, r = await b.post(path, {"note": "x", "kind": "dead"}, csrf=False)
        assert status == 303 and r.headers["Location"].startswith("/login"), path
    assert await _state(pool) == before
    assert await pool.fetchval("SELECT replayed_at FROM dead_letters") is None
    status, text, _ = await b.get("/login")
    assert status == 200 and 'name="password"' in text


async def test_login_sends_back_where_the_person_was_going_and_never_to_another_site(console, pool):
    b = console()
    await b.get("/login?next=/queues%3Fkind%3Ddead")
    status, _, r = await b.post("/login", {"username": "alice", "password": PASSWORDS["alice"],
                                           "next": "/queues?kind=dead"})
    assert status == 303 and r.headers["Location"] == "/queues?kind=dead"
    b2 = console()
    await b2.get("/login")
    status, _, r = await b2.post("/login", {"username": "alice", "password": PASSWORDS["alice"],
                                            "next": "//evil.example/x"})
    assert status == 303 and r.headers["Location"] == "/"


async def test_wrong_passwords_are_refused_logged_and_then_rate_limited_even_for_the_right_one(console):
    b = console()
    with structlog.testing.capture_logs() as logs:
        for _ in range(3):
            status, text, _ = await b.login("alice", "wrong-password")
            assert status == 401 and "Wrong user name or password" in text
        status, text, r = await b.login("alice")          # right password, but limited now
        assert status == 429 and "Too many failed logins" in text and int(r.headers["Retry-After"]) > 0
        status, _, _ = await b.get("/")
        assert status == 303                                  # still not logged in
    failed = [e for e in logs if e["event"] == "console_login_failed"]
    assert len(failed) == 3 and all(e["user"] == "alice" and e["address"] == "127.0.0.1" for e in failed)
    assert [e for e in logs if e["event"] == "console_login_refused"]
    assert not any("wrong-password" in repr(e) for e in logs)
    # the address is limited too, whatever name it tries next
    status, _, _ = await console().login("victor")
    assert status == 429


async def test_an_unknown_user_is_refused_like_a_wrong_password(console):
    status, text, _ = await console().login("mallory", "whatever-password")
    assert status == 401 and "Wrong user name or password" in text


async def test_a_viewer_reads_every_page_but_every_action_is_refused_with_403(console, pool):
    await seed_order(pool, 1001, "dead", attempts=12)
    letter = await seed_letter(pool, 5)
    before = await _state(pool)
    b = console()
    assert (await b.login("victor"))[0] == 303
    for path in PAGES[:-1]:           # the plan page needs a sandbox: test_console_pages covers it
        status, text, _ = await b.get(path)
        assert status == 200, path
        assert "victor (viewer)" in text
        assert "Retry now" not in text and "Retry all" not in text and ">Replay<" not in text
    for path in [*ACTIONS[:-1], f"/dead-letters/{letter}/replay"]:
        status, text, _ = await b.post(path, {"note": "done by hand", "kind": "dead"})
        assert status == 403, path
        assert "may only read" in text
    assert await _state(pool) == before
    assert await pool.fetchval("SELECT count(*) FROM order_history") == 0
    assert await pool.fetchval("SELECT replayed_at FROM dead_letters") is None


async def test_a_post_without_the_token_or_from_another_site_is_refused_and_does_nothing(console, pool):
    await seed_order(pool, 1001, "dead", attempts=12)
    before = await _state(pool)
    b = console()
    await b.login("alice")
    retry = f"/orders/{SHOP}/1001/retry"
    status, text, _ = await b.post(retry, csrf=False)
    assert status == 403 and "expired or did not come from the console" in text
    status, _, _ = await b.post(retry, {"csrf": b.csrf[:-2] + "xx"})
    assert status == 403
    # A cross-site form: the browser sends the cookie (were it not SameSite) and says where it came from.
    status, text, _ = await b.post(retry, headers={"Origin": "http://evil.example"})
    assert status == 403 and "from another site" in text
    status, _, _ = await b.post(retry, headers={"Sec-Fetch-Site": "cross-site"})
    assert status == 403
    # Another person's token is no good either: it is bound to their session.
    other = console()
    await other.login("alice")
    status, _, _ = await b.post(retry, {"csrf": other.csrf})
    assert status == 403
    assert await _state(pool) == before
    # The same form, same-origin and with its token, works.
    status, _, _ = await b.post(retry, headers={"Origin": b.base, "Sec-Fetch-Site": "same-origin"})
    assert status == 303
    assert (await _state(pool))["sync_state"] == "failed"


async def test_the_login_form_itself_needs_its_token(console):
    b = console()
    await b.get("/login")
    status, _, _ = await b.post("/login", {"username": "alice", "password": PASSWORDS["alice"]}, csrf=False)
    assert status == 403
    status, _, _ = await b.get("/")
    assert status == 303


async def test_a_session_cookie_is_signed_expires_and_ends_at_logout(serve_console, db_url):
    browser = await serve_console(console_config(db_url, session_ttl_s=2))
    b = browser()
    await b.login("alice")
    cookie = next(c for c in b.session.cookie_jar if c.key == COOKIE)
    assert cookie["httponly"] and cookie["samesite"] == "Strict" and cookie["path"] == "/"
    value = cookie.value
    body, mac = value.split(".")
    # A tampered cookie (claiming another user) is no session.
    import base64
    import json
    data = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    forged = base64.urlsafe_b64encode(json.dumps({**data, "u": "victor"}).encode()).decode().rstrip("=")
    c2 = browser()
    status, _, _ = await c2.get("/", headers={"Cookie": f"{COOKIE}={forged}.{mac}"})
    assert status == 303
    # Logging out ends the session even for a copy of the cookie.
    status, _, _ = await b.get("/")
    assert status == 200
    status, _, _ = await b.post("/logout")
    assert status == 303
    c3 = browser()
    status, _, _ = await c3.get("/", headers={"Cookie": f"{COOKIE}={value}"})
    assert status == 303


async def test_a_session_expires(serve_console, db_url):
    now = [1_000_000.5]
    browser = await serve_console(console_config(db_url, session_ttl_s=60), clock=lambda: now[0])
    b = browser()
    await b.login("alice")
    now[0] += 59.9
    status, _, _ = await b.get("/")
    assert status == 200
    now[0] += 1.2        # past the lifetime, rounded up to the second
    status, _, r = await b.get("/")
    assert status == 303 and r.headers["Location"].startswith("/login")


async def test_every_answer_carries_the_secure_headers(console, pool):
    await seed_order(pool, 1001, "dead")
    b = console()
    answers = [await b.get("/"), await b.get("/login"), await b.get("/static/console.css")]
    await b.login("victor")
    answers += [await b.get("/"), await b.get(f"/orders/{SHOP}/1001"),
                await b.post(f"/orders/{SHOP}/1001/retry"), await b.get("/orders/nope/1")]
    for status, _, r in answers:
        h = r.headers
        assert "script-src" not in h["Content-Security-Policy"] and "default-src 'none'" in h["Content-Security-Policy"]
        assert "frame-ancestors 'none'" in h["Content-Security-Policy"]
        assert h["X-Frame-Options"] == "DENY" and h["X-Content-Type-Options"] == "nosniff"
        assert h["Referrer-Policy"] == "same-origin"   # referrers never leave the console; form posts keep their Origin
    assert answers[0][2].headers["Cache-Control"] == "no-store"
    assert answers[-1][0] == 404


async def test_no_token_secret_hash_or_password_is_ever_rendered(console, pool):
    await seed_order(pool, 1001, "dead", attempts=3, last_error="Heartland said 422")
    # A stored request and answer that (wrongly) carry secret-looking fields: shown blanked.
    await pool.execute(
        "INSERT INTO journal (shop, order_id, action, fingerprint, request, status, response) "
        "VALUES ($1, 1001, 'create_order', 'fp', $2, 'failed', $3)", SHOP,
        {"action": "create_order", "public_id": "#1001", "api_token": TOKENS["ACME_TOKEN"]},
        {"error": "bad", "headers": {"Authorization": "Bearer " + TOKENS["ACME_TOKEN"]}})
    await seed_letter(pool, 5)
    b = console()
    pages = [(await b.get("/login"))[1], (await b.login("alice", "wrong-password"))[1]]
    await b.login("alice")
    for path in PAGES[:-1]:
        status, text, _ = await b.get(path)
        assert status == 200, path
        pages.append(text)
    pages.append((await b.post(f"/orders/{SHOP}/1001/resolve", {"note": ""}))[1])
    cookie = next(c for c in b.session.cookie_jar if c.key == COOKIE).value
    forbidden = [*TOKENS.values(), SECRET, *HASHES.values(), *PASSWORDS.values(), cookie,
                 *(h.split("$")[-1] for h in HASHES.values())]
    for text in pages:
        for secret in forbidden:
            assert secret not in text
    order_page = next(p for p in pages if "Heartland calls" in p)
    assert "[hidden]" in order_page and "api_token" in order_page
