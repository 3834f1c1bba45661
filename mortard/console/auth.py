"""Console users: scrypt password hashes, checking a login, and refusing logins after too many failures.

A hash reads `scrypt$N$r$p$<salt b64>$<key b64>` (`mortard console hash-password` prints one); the
config file holds only hashes. A login for a user who does not exist costs as long as one who does.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import os
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from mortard.config import ConsoleUser

VIEWER, OPERATOR = "viewer", "operator"
# ~16 MiB and tens of milliseconds per hash: slow for a guesser, quick enough for a person.
_N, _R, _P = 1 << 14, 8, 1
_KEY_LEN = 32


def hash_password(password: str, *, n: int = _N, r: int = _R, p: int = _P) -> str:
    if not password:
        raise ValueError("the password is empty")
    salt = os.urandom(16)
    key = hashlib.scrypt(password.encode(), salt=salt, n=n, r=r, p=p, dklen=_KEY_LEN, maxmem=_maxmem(n, r))
    return f"scrypt${n}${r}${p}${_b64(salt)}${_b64(key)}"


def check_password(password: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt, key = stored.split("$")
        if scheme != "scrypt":
            return False
        want = base64.b64decode(key)
        got = hashlib.scrypt(password.encode(), salt=base64.b64decode(salt), n=int(n), r=int(r), p=int(p),
                             dklen=len(want), maxmem=_maxmem(int(n), int(r)))
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(got, want)


def valid_hash(stored: str) -> bool:
    parts = stored.split("$")
    return len(parts) == 6 and parts[0] == "scrypt" and all(x.isdigit() for x in parts[1:4])


def _maxmem(n: int, r: int) -> int:
    return 128 * n * r * 2 + (1 << 20)


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


# Checked against when the user is unknown, so the answer takes as long either way.
_DUMMY = hash_password("not a password")


@dataclass(frozen=True, slots=True)
class User:
    name: str
    role: str

    @property
    def may_act(self) -> bool:
        return self.role == OPERATOR


def authenticate(users: Mapping[str, ConsoleUser], name: str, password: str) -> User | None:
    entry = users.get(name)
    ok = check_password(password, entry.password_hash if entry else _DUMMY)
    return User(name, entry.role) if ok and entry is not None else None


@dataclass
class LoginLimiter:
    """At most `max_failures` failed logins per user name and per client address in `window_s`;
    past that every login for them is refused, right or wrong, until the window moves on."""
    max_failures: int
    window_s: float
    clock: Callable[[], float] = time.monotonic
    _failures: dict[str, deque[float]] = field(default_factory=dict)

    def _recent(self, key: str) -> deque[float]:
        q = self._failures.setdefault(key, deque())
        cutoff = self.clock() - self.window_s
        while q and q[0] <= cutoff:
            q.popleft()
        return q

    def retry_after(self, user: str, address: str) -> float | None:
        """Seconds until a login may be tried again, or None if it may now."""
        waits = []
        for key in (f"user:{user}", f"addr:{address}"):
            q = self._recent(key)
            if len(q) >= self.max_failures:
                waits.append(q[0] + self.window_s - self.clock())
        return max(waits) if waits else None

    def failed(self, user: str, address: str) -> None:
        now = self.clock()
        for key in (f"user:{user}", f"addr:{address}"):
            self._recent(key).append(now)
        if len(self._failures) > 10_000:   # a flood of names: forget the quiet ones
            for key in [k for k, q in self._failures.items() if not q]:
                del self._failures[key]

    def succeeded(self, user: str) -> None:
        self._failures.pop(f"user:{user}", None)
