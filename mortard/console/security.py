"""The console's rules, applied to every request before any page or action runs:

- nothing but the login form and the stylesheet is served without a logged-in session (→ /login);
- every POST is same-origin (Origin / Sec-Fetch-Site) and carries the session's CSRF token;
- actions need the operator role (`require_operator`); a viewer gets 403;
- every answer carries secure headers (a CSP that allows no script, no framing, no sniffing, no
  caching of pages) — `add_headers`.
"""
from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import wraps
from urllib.parse import quote, urlsplit

import structlog
from aiohttp import web

from mortard.console.auth import User
from mortard.console.sessions import COOKIE, Session
from mortard.console.state import STATE, ConsoleState

log = structlog.get_logger(__name__)

SESSION = "mortard.console.session"
USER = "mortard.console.user"
FORM = "mortard.console.form"
PUBLIC_PATHS = ("/login",)
PUBLIC_PREFIXES = ("/static/",)

CSP = ("default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; "
       "frame-ancestors 'none'; base-uri 'none'")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _public(path: str) -> bool:
    return path in PUBLIC_PATHS or path.startswith(PUBLIC_PREFIXES)


def client_address(request: web.Request) -> str:
    return request.remote or "?"


def same_origin(request: web.Request) -> bool:
    """A browser says where a request came from: refuse a POST another site made it send."""
    site = request.headers.get("Sec-Fetch-Site")
    if site is not None and site not in ("same-origin", "none"):
        return False
    origin = request.headers.get("Origin")
    if origin is not None and (origin == "null" or urlsplit(origin).netloc != request.host):
        return False
    return True


@web.middleware
async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
    st: ConsoleState = request.app[STATE]
    session: Session | None = st.signer.load(request.cookies.get(COOKIE))
    user = None
    if session is not None and session.user is not None:
        entry = st.users.get(session.user)
        if entry is None:          # taken out of the config since: the session ends
            session = None
        else:
            user = User(session.user, entry.role)
    request[SESSION], request[USER] = session, user
    if user is None and not _public(request.path):
        target = request.path_qs if request.method == "GET" else "/"
        raise web.HTTPSeeOther("/login?next=" + quote(target, safe="/"))
    if request.method not in ("GET", "HEAD"):
        if request.method != "POST":
            raise web.HTTPMethodNotAllowed(request.method, ["GET", "POST"])
        if not same_origin(request):
            log.warning("console_cross_site_post", path=request.path, origin=request.headers.get("Origin"),
                        user=user.name if user else None, address=client_address(request))
            return st.refuse(request, 403, "This form was sent from another site; nothing was done.")
        form = await request.post()
        if session is None or not st.signer.csrf_ok(session, form.get("csrf") if isinstance(form.get("csrf"), str) else None):
            log.warning("console_csrf_refused", path=request.path, user=user.name if user else None,
                        address=client_address(request))
            return st.refuse(request, 403, "This form has expired or did not come from the console; "
                                           "reload the page and try again. Nothing was done.")
        request[FORM] = form
    return await handler(request)


def require_operator(fn: Handler) -> Handler:
    """Actions: only the operator role may run them."""
    @wraps(fn)
    async def run(request: web.Request) -> web.StreamResponse:
        user: User | None = request.get(USER)
        if user is None or not user.may_act:
            log.warning("console_action_refused", path=request.path, user=user.name if user else None,
                        role=user.role if user else None)
            return request.app[STATE].refuse(request, 403, "Your role may only read; ask an operator to act.")
        return await fn(request)
    return run


async def add_headers(request: web.Request, response: web.StreamResponse) -> None:
    h = response.headers
    h.setdefault("Content-Security-Policy", CSP)
    h["X-Frame-Options"] = "DENY"
    h["X-Content-Type-Options"] = "nosniff"
    # Not "no-referrer": under it Chromium sends `Origin: null` on the pages' own form posts, which the
    # same-origin check must refuse — no one could log in (found by the browser test).
    h["Referrer-Policy"] = "same-origin"
    h["Cross-Origin-Opener-Policy"] = "same-origin"
    h["Cross-Origin-Resource-Policy"] = "same-origin"
    h["Permissions-Policy"] = "camera=(), microphone=(), geolocation=(), payment=()"
    if not request.path.startswith(PUBLIC_PREFIXES):
        h["Cache-Control"] = "no-store"
    st: ConsoleState = request.app[STATE]
    if st.cookie_secure:
        h["Strict-Transport-Security"] = "max-age=31536000"
