"""`mortard run` as a real child process, for kill -9, SIGTERM and two-daemon tests."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from stack import SHOP, SHOP2, TOKENS


def write_config(path: Path, *, db_url: str, bootstrap: str, topic: str, sandbox_url: str,
                 daemon: dict[str, Any] | None = None, shop_settings: str = "", instance: str = "",
                 session_ms: int = 6000, heartbeat_ms: int = 1000) -> Path:
    d = {"ops_port": 0, "sweep_interval_s": 0.2, "drain_timeout_s": 10, "lease_s": 3.0, **(daemon or {})}
    daemon_toml = "\n".join(f"{k} = {v!r}" if isinstance(v, str) else f"{k} = {str(v).lower() if isinstance(v, bool) else v}"
                            for k, v in d.items())
    path.write_text(f"""
[database]
url = "{db_url}"
min_pool = 1
max_pool = 10

[kafka]
bootstrap = "{bootstrap}"
topic = "{topic}"
dead_letter_topic = "{topic}.dead"
group_id = "g-{topic}"
session_timeout_ms = {session_ms}
heartbeat_interval_ms = {heartbeat_ms}
commit_interval_s = 0.2
group_instance_id = "{instance}"

[daemon]
{daemon_toml}

[logging]
level = "warning"
format = "json"

[heartland.accounts.acme]
token_env = "ACME_TOKEN"
base_url = "{sandbox_url}/acme/api/"
rate_per_second = 2000.0
burst = 500
max_concurrency = 32
request_timeout_s = 3.0

[heartland.accounts.globex]
token_env = "GLOBEX_TOKEN"
base_url = "{sandbox_url}/globex/api/"
rate_per_second = 2000.0
burst = 500
max_concurrency = 32
request_timeout_s = 3.0

[shops."{SHOP}"]
heartland_account = "acme"
[shops."{SHOP}".settings]
{shop_settings}

[shops."{SHOP2}"]
heartland_account = "globex"
""")
    return path


class DaemonProcess:
    def __init__(self, config: Path, log: Path) -> None:
        self.config = config
        self.log = log
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> DaemonProcess:
        env = {**os.environ, **TOKENS, "PYTHONUNBUFFERED": "1"}
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen([sys.executable, "-m", "mortard", "run", "--config", str(self.config)],
                                         stdout=out, stderr=subprocess.STDOUT, env=env)
        return self

    def kill9(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def terminate(self, timeout: float = 30.0) -> tuple[int, float]:
        assert self.proc is not None
        started = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(timeout)
        return code, time.monotonic() - started

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None
