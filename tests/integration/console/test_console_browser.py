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
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from console_support import PASSWORDS, console_config, seed_order
from mortard.testing import free_port
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

    async def url(self) -> str:
        return await self._call("GET", "/url")

    async def text(self) -> str:
        return await self._call("GET", f"/element/{await self.find('body')}/text")

    async def screenshot(self) -> bytes:
        return b64decode(await self._call("GET", "/screenshot"))

    async def log_in(self, base: str, user: str) -> None:
        await self.go(f"{base}/login")
        await self.type("input[name=username]", user)
        await self.type("input[name=password]", PASSWORDS[user])
        await self.click("form.login button[type=submit]")
        # The click may return before the login's redirect has loaded (a busy machine): wait for it, or
        # the next go() races the redirect and the page read is the overview.
        for _ in range(100):
            if "/login" not in await self.url():
                return
            await asyncio.sleep(0.1)


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
        serve_console, db_url, pool, chromium, tmp_path):
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
    await b.click("button[value=retry]")              # the form posts with its CSRF token
    page = await b.text()
    assert "Retry asked by alice: dead → failed" in page
    assert await pool.fetchval("SELECT sync_state FROM orders WHERE order_id = 1001") == "failed"
    png = await b.screenshot()
    assert png.startswith(b"\x89PNG") and len(png) > 5_000
    (tmp_path / "order.png").write_bytes(png)


async def test_a_viewer_sees_the_order_but_no_button(serve_console, db_url, pool, chromium):
    await seed_order(pool, 1001, "dead")
    base = (await serve_console(console_config(db_url)))().base
    b = await chromium()
    await b.log_in(base, "victor")
    await b.go(f"{base}/orders/{SHOP}/1001")
    assert "1001" in await b.text()
    assert await b.count("button[value=retry]") == 0
    assert await pool.fetchval("SELECT sync_state FROM orders WHERE order_id = 1001") == "dead"
