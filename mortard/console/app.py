"""`mortard console`: the aiohttp application (routes, login, logout) and serving it on its own port."""
from __future__ import annotations

import asyncio
import signal
from importlib import resources

import asyncpg
import structlog
from aiohttp import web

from mortard.config import Config
from mortard.console import actions, pages
from mortard.console.auth import authenticate
from mortard.console.security import FORM, SESSION, USER, add_headers, client_address, guard
from mortard.console.sessions import COOKIE, Session
from mortard.console.state import STATE, ConsoleState

log = structlog.get_logger(__name__)


def _safe_next(target: str) -> str:
    """Only a path on this console (never `//other.site` nor a full URL) after login."""
    return target if target.startswith("/") and not target.startswith(("//", "/\\")) else "/"


def _set_session(st: ConsoleState, response: web.StreamResponse, session: Session) -> None:
    response.set_cookie(COOKIE, st.signer.dump(session), httponly=True, samesite="Strict", path="/",
                        secure=st.cookie_secure, max_age=max(0, session.expires - int(st.signer.clock())))


async def login_form(request: web.Request) -> web.StreamResponse:
    st: ConsoleState = request.app[STATE]
    if request.get(USER) is not None:
        raise web.HTTPSeeOther(_safe_next(request.query.get("next", "/")))
    session = request.get(SESSION)
    fresh = session is None
    if fresh:      # the form's own session: its CSRF token protects the login POST
        session = st.signer.new(None)
        request[SESSION] = session
    response = st.render(request, "login.html", next=_safe_next(request.query.get("next", "/")), error=None)
    if fresh:
        _set_session(st, response, session)
    return response


async def login(request: web.Request) -> web.StreamResponse:
    st: ConsoleState = request.app[STATE]
    form = request[FORM]
    name = str(form.get("username") or "").strip()[:200]
    password = str(form.get("password") or "")
    target = _safe_next(str(form.get("next") or "/"))
    address = client_address(request)
    wait = st.limiter.retry_after(name, address)
    if wait is not None:
        log.warning("console_login_refused", user=name, address=address, retry_after_s=round(wait))
        response = st.render(request, "login.html", status=429, next=target,
                             error=f"Too many failed logins; try again in {max(1, round(wait / 60))} minute(s).")
        response.headers["Retry-After"] = str(max(1, round(wait)))
        return response
    user = await asyncio.to_thread(authenticate, st.users, name, password)   # scrypt: keep the loop free
    if user is None:
        st.limiter.failed(name, address)
        log.warning("console_login_failed", user=name, address=address)
        return st.render(request, "login.html", status=401, next=target, error="Wrong user name or password.")
    st.limiter.succeeded(name)
    old = request.get(SESSION)
    if old is not None:
        st.signer.revoke(old)                 # a new session id at login: no fixation
    log.info("console_login", user=user.name, role=user.role, address=address)
    response = web.HTTPSeeOther(target)
    _set_session(st, response, st.signer.new(user.name))
    raise response


async def logout(request: web.Request) -> web.StreamResponse:
    st: ConsoleState = request.app[STATE]
    session = request.get(SESSION)
    if session is not None:
        st.signer.revoke(session)
    response = web.HTTPSeeOther("/login")
    response.del_cookie(COOKIE, path="/")
    raise response


async def stylesheet(request: web.Request) -> web.StreamResponse:
    css = (resources.files("mortard.console") / "static" / "console.css").read_text()
    return web.Response(text=css, content_type="text/css", headers={"Cache-Control": "max-age=3600"})


def build_app(cfg: Config, pool: asyncpg.Pool) -> web.Application:
    app = web.Application(middlewares=[guard], client_max_size=64 * 1024)
    app[STATE] = ConsoleState.from_config(cfg, pool)
    app.on_response_prepare.append(add_headers)
    r = app.router
    r.add_get("/login", login_form)
    r.add_post("/login", login)
    r.add_post("/logout", logout)
    r.add_get("/static/console.css", stylesheet)
    r.add_get("/", pages.overview)
    r.add_get("/queues", pages.queues)
    r.add_post("/queues/retry", actions.retry_matching)
    r.add_get("/orders/{shop}/{order}", pages.order_page)
    r.add_get("/orders/{shop}/{order}/plan", pages.plan_page)
    for key, handler in actions.ORDER_HANDLERS.items():
        r.add_post(f"/orders/{{shop}}/{{order}}/{key}", handler)
    r.add_post("/dead-letters/{id}/replay", actions.replay_letter)
    r.add_get("/drift", pages.drift_page)
    r.add_get("/webhooks", pages.webhooks_page)
    return app


async def serve(cfg: Config, stop: asyncio.Event | None = None) -> None:
    """Serve the console until SIGTERM/SIGINT (or `stop`)."""
    from mortard.store.db import create_pool
    c = cfg.console
    if not c.users:
        log.warning("console_no_users", hint="add [console.users.NAME] tables; nobody can log in")
    if cfg.console_session_secret is None:
        log.warning("console_ephemeral_secret", hint="set console.session_secret_env; sessions end at restart")
    pool = await create_pool(cfg.database.url, password=cfg.database_password, min_size=1, max_size=4,
                             command_timeout=cfg.database.command_timeout)
    runner = web.AppRunner(build_app(cfg, pool), access_log=None)
    await runner.setup()
    loop = asyncio.get_running_loop()
    signals = (signal.SIGTERM, signal.SIGINT) if stop is None else ()
    stop = stop or asyncio.Event()
    try:
        site = web.TCPSite(runner, c.host, c.port)
        await site.start()
        log.info("console_listening", url=f"http://{c.host}:{c.port}/", users=len(c.users))
        for sig in signals:
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
    finally:
        for sig in signals:
            loop.remove_signal_handler(sig)
        await runner.cleanup()
        await pool.close()
