"""The console in a real browser: Debian's headless Chromium driven over WebDriver (chromedriver's
HTTP API, spoken with aiohttp). A person logs in, sees what needs them, opens an order and retries it;
a viewer sees no button. What a handler test can't see: that the pages work as pages (forms post
with their CSRF token, the session cookie is kept, redirects land), and render (a screenshot)."""
from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
from base64 import b64decode
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from console_support import PASSWORDS, console_config, run_daemon_once, seed_order, set_stock
from mortard.sync.states import REASONS
from mortard.testing import free_port
from mortard.testing.shopify import LineSpec, OrderSpec, order_payload
from stack import SHOP

CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", shutil.which("chromedriver") or "/usr/bin/chromedriver"
ELEMENT = "element-6066-11e4-a52e-4f735466cecf"

if not (os.path.exists(CHROMIUM) and os.path.exists(CHROMEDRIVER)):
    if os.environ.get("CI"):
        raise RuntimeError("CI needs Debian's chromium and chromium-driver (scripts/test installs them)")
    pytest.skip("Debian's chromium and chromium-driver are not installed (./scripts/test installs them as root)",
                allow_module_level=True)


class Browser:
    """One WebDriver session of headless Chromium."""

    def __init__(self, http: aiohttp.ClientSession, driver: str, session: str) -> None:
        self.http, self.driver, self.session = http, driver, session

    async def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        async with self.http.request(method, f"{self.driver}/session/{self.session}{path}",
                                     json=body if method == "POST" else None) as r:
            doc = await r.json()
        if r.status != 200:
            raise AssertionError(f"WebDriver {method} {path}: {r.status} {doc}")
        return doc["value"]

    async def go(self, url: str) -> None:
        await self._call("POST", "/url", {"url": url})

    async def find(self, css: str) -> str:
        return (await self._call("POST", "/element", {"using": "css selector", "value": css}))[ELEMENT]

    async def count(self, css: str) -> int:
        return len(await self._call("POST", "/elements", {"using": "css selector", "value": css}))

    async def type(self, css: str, text: str) -> None:
        await self._call("POST", f"/element/{await self.find(css)}/value", {"text": text})

    async def click(self, css: str) -> None:
        await self._call("POST", f"/element/{await self.find(css)}/click", {})

    async def submit(self, css: str, timeout: float = 15.0) -> None:
        """Click a button that posts its form, and wait until the answer's page has replaced this one
        (WebDriver's click returns before the navigation ends; a new document has a new <body>)."""
        before = await self.find("body")
        await self.click(css)
        deadline = asyncio.get_running_loop().time() + timeout
        while asyncio.get_running_loop().time() < deadline:
            try:
                if await self.find("body") != before and await self.script("return document.readyState") == "complete":
                    return
            except AssertionError:
                pass                      # between documents: no body yet
            await asyncio.sleep(0.05)
        raise AssertionError(f"clicking {css} loaded no new page within {timeout}s")

    async def url(self) -> str:
        return await self._call("GET", "/url")

    async def text(self) -> str:
        return await self._call("GET", f"/element/{await self.find('body')}/text")

    async def script(self, js: str, *args: Any) -> Any:
        return await self._call("POST", "/execute/sync", {"script": js, "args": list(args)})

    async def screenshot(self) -> bytes:
        return b64decode(await self._call("GET", "/screenshot"))

    async def log_in(self, base: str, user: str) -> None:
        await self.go(f"{base}/login")
        await self.type("input[name=username]", user)
        await self.type("input[name=password]", PASSWORDS[user])
        await self.submit("form.login button[type=submit]")


@pytest.fixture
def artefacts(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    """Where screenshots are kept: $MORTARD_TEST_ARTEFACTS/<test> when set (CI keeps that folder),
    else the test's own temporary folder."""
    root = os.environ.get("MORTARD_TEST_ARTEFACTS")
    folder = Path(root) / request.node.name if root else tmp_path
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture
async def chromium(tmp_path: Path) -> AsyncIterator[Any]:
    port = free_port()
    # Its own process group, so the browsers it starts are stopped with it (and nothing else).
    driver = subprocess.Popen([CHROMEDRIVER, f"--port={port}"], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, start_new_session=True)
    http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60))
    base = f"http://127.0.0.1:{port}"
    sessions: list[str] = []
    try:
        for _ in range(100):
            try:
                async with http.get(f"{base}/status") as r:
                    if r.status == 200 and (await r.json())["value"]["ready"]:
                        break
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)

        async def new_browser() -> Browser:
            profile = tmp_path / f"profile-{len(sessions)}"
            args = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    "--disable-quic", "--no-first-run", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync", "--window-size=1280,900",
                    f"--user-data-dir={profile}"]
            caps = {"capabilities": {"alwaysMatch": {"browserName": "chrome", "goog:chromeOptions": {
                "binary": CHROMIUM, "args": args}}}}
            async with http.post(f"{base}/session", json=caps) as r:
                doc = await r.json()
            assert r.status == 200, doc
            sessions.append(doc["value"]["sessionId"])
            return Browser(http, base, sessions[-1])
        yield new_browser
    finally:
        for s in sessions:
            try:
                async with http.delete(f"{base}/session/{s}"):
                    pass
            except aiohttp.ClientError:
                pass
        await http.close()
        try:
            os.killpg(driver.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        driver.wait(timeout=10)


async def test_an_operator_logs_in_opens_a_dead_order_and_retries_it_in_a_real_browser(
        serve_console, db_url, pool, chromium, artefacts):
    await seed_order(pool, 1001, "dead", attempts=12, last_error="Heartland answered 503")
    base = (await serve_console(console_config(db_url)))().base
    b = await chromium()
    await b.go(f"{base}/")
    assert "/login" in await b.url()                  # no session: the login page
    await b.log_in(base, "alice")
    assert (await b.url()).rstrip("/") == base
    overview = await b.text()
    assert "dead orders" in overview
    await b.go(f"{base}/orders/{SHOP}/1001")
    assert "Retry now" in await b.text()
    await b.submit("button[value=retry]")             # the form posts with its CSRF token
    page = await b.text()
    assert "Retry asked by alice: dead → failed" in page
    assert await pool.fetchval("SELECT sync_state FROM orders WHERE order_id = 1001") == "failed"
    png = await b.screenshot()
    assert png.startswith(b"\x89PNG") and len(png) > 5_000
    (artefacts / "order.png").write_bytes(png)


async def test_a_viewer_sees_the_order_but_no_button(serve_console, db_url, pool, chromium):
    await seed_order(pool, 1001, "dead")
    base = (await serve_console(console_config(db_url)))().base
    b = await chromium()
    await b.log_in(base, "victor")
    await b.go(f"{base}/orders/{SHOP}/1001")
    assert "1001" in await b.text()
    assert await b.count("button[value=retry]") == 0
    assert await pool.fetchval("SELECT sync_state FROM orders WHERE order_id = 1001") == "dead"


async def test_a_person_finds_a_waiting_order_reads_why_retries_it_and_sees_it_invoiced_and_charted(
        serve_console, db_url, pool, sandbox_url, chromium, artefacts):
    """The issue's errand end to end in Chromium, with the daemon's real machine and the Heartland sandbox."""
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{sandbox_url}/_sandbox/reset") as r:
            r.raise_for_status()
        await set_stock(http, sandbox_url, "SKU-0002", {loc: 0 for loc in ("ONLINE", "S01", "S02", "S03")})
        cfg = console_config(db_url, sandbox_url)
        payload = order_payload(OrderSpec(1001, 1001, [LineSpec("SKU-0002", 1, Decimal("116.00"))]))
        await pool.execute("INSERT INTO orders (shop, order_id, order_name, snapshot, snapshot_updated_at, due_seq) "
                           "VALUES ($1, 1001, '#1001', $2, now(), 1)", SHOP, payload)
        await run_daemon_once(cfg, pool)
        assert await pool.fetchval("SELECT sync_state FROM orders") == "waiting_stock"

        base = (await serve_console(cfg))().base
        b = await chromium()
        await b.log_in(base, "alice")
        assert "1 waiting for stock" in await b.text()
        await b.submit("a[href*='kind=waiting']")                 # the overview's count links to its queue
        queue = await b.text()
        assert "#1001" in queue and REASONS["no_stock"].means in queue
        await b.submit(f"a[href='/orders/{SHOP}/1001']")
        assert REASONS["no_stock"].means in await b.text()       # why it waits, in words

        await set_stock(http, sandbox_url, "SKU-0002", {"S02": 5})          # stock arrived
        await b.submit("button[value=retry]")
        assert "Retry asked by alice" in await b.text()
        await run_daemon_once(cfg, pool)
        await b.go(f"{base}/orders/{SHOP}/1001")
        page = await b.text()
        assert "invoiced" in page and "retry asked by alice (state waiting_stock)" in page   # in its timeline
        (artefacts / "invoiced-order.png").write_bytes(await b.screenshot())

        await b.go(f"{base}/")
        # The per-minute chart drew the shop's series with a visible extent (the browser laid it out).
        drawn = await b.script(
            "const s = document.querySelector(arguments[0]);"
            "if (!s) return null; const r = s.getBoundingClientRect();"
            "return {points: s.points.numberOfItems, width: r.width};", f'polyline[data-series="{SHOP}"]')
        assert drawn is not None and drawn["points"] >= 2 and drawn["width"] > 0, drawn
        png = await b.screenshot()
        assert png.startswith(b"\x89PNG") and len(png) > 5_000
        (artefacts / "overview.png").write_bytes(png)
