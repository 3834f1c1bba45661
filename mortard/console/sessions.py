"""The session cookie: `<payload b64>.<HMAC-SHA256 b64>` over {sid, user, exp}, with an expiry.

Stateless, so a restart with the same secret keeps people logged in; logging out revokes the session
id in this process until it would have expired anyway. The CSRF token is an HMAC of the session id
under its own label, so it is bound to one session and useless without the cookie.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import math
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field

COOKIE = "mortard_console"


@dataclass(frozen=True, slots=True)
class Session:
    sid: str
    user: str | None       # None: not logged in yet (the login form's session)
    expires: int           # unix seconds


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass
class SessionSigner:
    key: bytes
    ttl_s: int
    clock: Callable[[], float] = time.time
    _revoked: dict[str, int] = field(default_factory=dict)

    def new(self, user: str | None) -> Session:
        ttl = self.ttl_s if user else min(self.ttl_s, 3600)
        # Rounded up: a session lives its whole lifetime, never up to a second less.
        return Session(secrets.token_urlsafe(18), user, math.ceil(self.clock() + ttl))

    def _mac(self, label: bytes, data: bytes) -> bytes:
        return hmac.new(self.key, label + b"\0" + data, hashlib.sha256).digest()

    def dump(self, s: Session) -> str:
        body = json.dumps({"sid": s.sid, "u": s.user, "exp": s.expires}, separators=(",", ":")).encode()
        return f"{_b64(body)}.{_b64(self._mac(b'session', body))}"

    def load(self, cookie: str | None) -> Session | None:
        """The session in the cookie if its signature holds and it has not expired nor been revoked."""
        if not cookie or cookie.count(".") != 1:
            return None
        body_text, mac_text = cookie.split(".")
        try:
            body, mac = _unb64(body_text), _unb64(mac_text)
        except ValueError:
            return None
        if not hmac.compare_digest(mac, self._mac(b"session", body)):
            return None
        try:
            data = json.loads(body)
            s = Session(str(data["sid"]), None if data["u"] is None else str(data["u"]), int(data["exp"]))
        except (ValueError, KeyError, TypeError):
            return None
        if s.expires <= self.clock() or s.sid in self._revoked:
            return None
        return s

    def revoke(self, s: Session) -> None:
        now = self.clock()
        for sid in [k for k, exp in self._revoked.items() if exp <= now]:
            del self._revoked[sid]
        self._revoked[s.sid] = s.expires

    def note_mark(self, text: str) -> str:
        """Marks a message an action put in the redirect's query, so a link from elsewhere can't
        make the console say something it didn't do."""
        return _b64(self._mac(b"note", text.encode()))[:22]

    def note_ok(self, text: str, mark: str) -> bool:
        return hmac.compare_digest(mark.encode(), self.note_mark(text).encode())

    def csrf_token(self, s: Session) -> str:
        return _b64(self._mac(b"csrf", s.sid.encode()))

    def csrf_ok(self, s: Session, token: str | None) -> bool:
        return bool(token) and hmac.compare_digest(str(token).encode(), self.csrf_token(s).encode())
