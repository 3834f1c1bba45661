"""sd_notify(3) by hand: one datagram to `$NOTIFY_SOCKET`, no dependency.

Every method is a no-op when the daemon was not started by systemd (`NOTIFY_SOCKET` unset), and never
raises: a notification that cannot be sent is logged and dropped, it must not take the daemon down.

Send `ready()` only when the Postgres pool, the Kafka group join and the metrics listener are up;
`watchdog()` only from the event loop, gated on progress (see `mortard.ops.loop_monitor`).
"""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping

import structlog

_log = structlog.get_logger(__name__)


def _socket_address(raw: str | None) -> str | None:
    """The AF_UNIX address for a `NOTIFY_SOCKET` value, or None if unset or unsupported."""
    if not raw:
        return None
    if raw.startswith("@"):  # abstract namespace
        return "\0" + raw[1:]
    if raw.startswith("/"):
        return raw
    return None  # e.g. "vsock:…" (VM guests): not supported here


def watchdog_interval(env: Mapping[str, str] | None = None) -> float | None:
    """Seconds between watchdog pings (half of `WATCHDOG_USEC`), or None when the watchdog is off.

    Honours `WATCHDOG_PID` like `sd_watchdog_enabled(3)`: if set to another pid, the watchdog is not ours.
    """
    env = os.environ if env is None else env
    usec = env.get("WATCHDOG_USEC")
    if not usec:
        return None
    pid = env.get("WATCHDOG_PID")
    if pid and pid != str(os.getpid()):
        return None
    try:
        value = int(usec)
    except ValueError:
        return None
    return value / 2 / 1_000_000 if value > 0 else None


class Notifier:
    """Sends systemd notifications. `Notifier()` reads `NOTIFY_SOCKET`; pass `address` to override."""

    def __init__(self, address: str | None = None, *, env: Mapping[str, str] | None = None) -> None:
        env = os.environ if env is None else env
        self._address = _socket_address(address if address is not None else env.get("NOTIFY_SOCKET"))
        self._sock: socket.socket | None = None

    @property
    def enabled(self) -> bool:
        return self._address is not None

    def notify(self, *fields: str) -> bool:
        """Send `fields` (``"KEY=value"``) in one datagram. True if sent, False if disabled or failed."""
        if self._address is None:
            return False
        payload = "\n".join(fields).encode()
        try:
            if self._sock is None:
                self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
                self._sock.setblocking(False)
            self._sock.sendto(payload, self._address)
        except OSError as exc:
            _log.warning("sd_notify_failed", fields=list(fields), error=repr(exc))
            return False
        return True

    def ready(self, status: str | None = None) -> bool:
        fields = ["READY=1"] if status is None else ["READY=1", f"STATUS={_one_line(status)}"]
        return self.notify(*fields)

    def status(self, text: str) -> bool:
        return self.notify(f"STATUS={_one_line(text)}")

    def watchdog(self) -> bool:
        return self.notify("WATCHDOG=1")

    def stopping(self, status: str | None = None) -> bool:
        fields = ["STOPPING=1"] if status is None else ["STOPPING=1", f"STATUS={_one_line(status)}"]
        return self.notify(*fields)

    def extend_timeout(self, seconds: float) -> bool:
        """Ask systemd for `seconds` more before it gives up on this start or stop."""
        return self.notify(f"EXTEND_TIMEOUT_USEC={max(0, int(seconds * 1_000_000))}")

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None


def _one_line(text: str) -> str:
    return " ".join(text.splitlines())
