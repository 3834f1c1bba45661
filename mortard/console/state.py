"""What every console handler shares: the config, the Postgres pool, the session signer, the login
limiter and the templates (`render`, `refuse`)."""
from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import jinja2
from aiohttp import web

from mortard.config import Config, ConsoleUser
from mortard.console import views
from mortard.console.auth import LoginLimiter
from mortard.console.sessions import SessionSigner


def _templates() -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.PackageLoader("mortard.console", "templates"),
                             autoescape=True, undefined=jinja2.StrictUndefined,
                             trim_blocks=True, lstrip_blocks=True)
    env.filters.update(views.FILTERS)
    return env


@dataclass
class ConsoleState:
    cfg: Config
    pool: asyncpg.Pool
    signer: SessionSigner
    limiter: LoginLimiter
    templates: jinja2.Environment = field(default_factory=_templates)

    @classmethod
    def from_config(cls, cfg: Config, pool: asyncpg.Pool) -> ConsoleState:
        c = cfg.console
        secret = cfg.console_session_secret
        key = secret.reveal().encode() if secret is not None else secrets.token_bytes(32)
        return cls(cfg, pool, SessionSigner(key, c.session_ttl_s),
                   LoginLimiter(c.login_max_failures, c.login_window_s))

    @property
    def users(self) -> Mapping[str, ConsoleUser]:
        return self.cfg.console.users

    @property
    def cookie_secure(self) -> bool:
        return self.cfg.console.cookie_secure

    def render(self, request: web.Request, name: str, status: int = 200, **context: Any) -> web.Response:
        from mortard.console.security import SESSION, USER
        session = request.get(SESSION)
        done, mark = request.query.get("done", ""), request.query.get("mark", "")
        html = self.templates.get_template(name).render(
            user=request.get(USER), csrf=self.signer.csrf_token(session) if session else "",
            path=request.path, done=done if done and self.signer.note_ok(done, mark) else None, **context)
        return web.Response(text=html, status=status, content_type="text/html", charset="utf-8")

    def done_query(self, text: str) -> dict[str, str]:
        """The query parameters that show `text` as done on the next page."""
        return {"done": text, "mark": self.signer.note_mark(text)}

    def refuse(self, request: web.Request, status: int, message: str) -> web.Response:
        return self.render(request, "error.html", status=status, message=message)


STATE: web.AppKey[ConsoleState] = web.AppKey("mortard.console.state", ConsoleState)
