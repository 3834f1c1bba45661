"""Who a daemon is, for its order leases: one live process per name.

A daemon with a stable `kafka.group_instance_id` leases orders under a name derived from it, so a
restarted daemon takes back its own orders at once instead of waiting their leases out. Two live
processes must never share that name (both would pass every lease check), so the name is held as a
Postgres session advisory lock on a connection kept for the daemon's life: a second process with the
same instance id waits, then refuses to start; a killed one's lock goes with its connection. If the
lock connection is lost, the daemon must stop (`InstanceLock.alive`), since another may now start.
"""
from __future__ import annotations

import asyncio
import os
import socket
import uuid

import asyncpg

# Postgres advisory lock keys are bigints; mortard's instance locks use class 0x6d6f (ASCII "mo").
_LOCK = "SELECT pg_try_advisory_lock(27759, hashtext($1))"
# A previous life's leases are expired, not dropped: the sweeper claims those orders at once, and
# their stock holds pass to the new run as on any takeover (store/reservations.py).
_RELEASE_OWN_LEASES = ("UPDATE orders SET lease_until = now() - interval '1 second' "
                       "WHERE lease_owner = $1 AND lease_until > now()")


def owner_id(group_instance_id: str) -> str:
    """The lease owner name: stable for a named instance, else unique to this process."""
    if group_instance_id:
        return f"instance:{group_instance_id}"
    return f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"


class InstanceTaken(RuntimeError):
    """Another live daemon runs under the same instance id."""


class InstanceLock:
    def __init__(self, pool: asyncpg.Pool, owner: str) -> None:
        self._pool = pool
        self.owner = owner
        self._conn: asyncpg.Connection | None = None

    async def acquire(self, wait_s: float = 15.0, poll_s: float = 0.25, *, expire_old_leases: bool = True) -> int:
        """Hold the owner name, then expire the leases a previous life of it left; returns how many.
        Raises InstanceTaken if another live process keeps the name for `wait_s`."""
        conn = await self._pool.acquire()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait_s
        try:
            while not await conn.fetchval(_LOCK, self.owner):
                if loop.time() >= deadline:
                    raise InstanceTaken(f"another mortard daemon is running as {self.owner!r} "
                                        f"(kafka.group_instance_id must differ between daemons)")
                await asyncio.sleep(poll_s)
            released = await conn.execute(_RELEASE_OWN_LEASES, self.owner) if expire_old_leases else "UPDATE 0"
        except BaseException:
            await self._pool.release(conn)
            raise
        self._conn = conn
        return int(released.split()[-1])

    async def alive(self) -> bool:
        try:
            return self._conn is not None and not self._conn.is_closed() and await self._conn.fetchval("SELECT 1") == 1
        except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError):
            return False

    async def reacquire(self, wait_s: float = 15.0) -> None:
        """Take the name again on a new connection (the old one died, and its lock with it). The
        leases are this live process's own: they stay."""
        await self._drop()
        await self.acquire(wait_s, expire_old_leases=False)

    async def release(self) -> None:
        if self._conn is not None:
            try:
                await self._conn.execute("SELECT pg_advisory_unlock_all()")
            except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError):
                pass
        await self._drop()

    async def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                await self._pool.release(conn)
            except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError):
                pass
