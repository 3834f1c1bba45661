"""The ops HTTP listener: `/metrics`, `/healthz` (liveness) and `/readyz` (readiness).

- `GET /metrics`: Prometheus exposition, negotiated on `Accept` (plain text 0.0.4 by default).
- `GET /healthz`: 200 while `liveness()` is True (the loop monitor ticked recently), else 503.
- `GET /readyz`: runs every readiness check concurrently; 200 with `{"ready": true, "checks": …}` when
  all pass, else 503 naming the failures. A check that raises or takes longer than `check_timeout`
  (1 s) fails. Checks may be plain functions or coroutine functions.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable

import structlog
from aiohttp import web

from mortard.ops.metrics import Metrics

ReadinessCheck = Callable[[], Awaitable[bool] | bool]

_log = structlog.get_logger(__name__)


class OpsServer:
    def __init__(
        self,
        metrics: Metrics,
        *,
        host: str = "127.0.0.1",
        port: int = 9464,
        readiness_checks: dict[str, ReadinessCheck] | None = None,
        liveness: Callable[[], bool] | None = None,
        check_timeout: float = 1.0,
    ) -> None:
        self._metrics = metrics
        self._host = host
        self._port = port
        self._checks: dict[str, ReadinessCheck] = dict(readiness_checks or {})
        self._liveness = liveness
        self._check_timeout = check_timeout
        self._runner: web.AppRunner | None = None
        self._bound_port: int | None = None

    def add_readiness_check(self, name: str, check: ReadinessCheck) -> None:
        """Register (or replace) a readiness check, e.g. once the Kafka consumer exists."""
        self._checks[name] = check

    @property
    def port(self) -> int:
        """The bound TCP port (useful with `port=0`); only valid after `start()`."""
        if self._bound_port is None:
            raise RuntimeError("OpsServer is not started")
        return self._bound_port

    @property
    def url(self) -> str:
        return f"http://{self._host}:{self.port}"

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/metrics", self._handle_metrics)
        app.router.add_get("/healthz", self._handle_healthz)
        app.router.add_get("/readyz", self._handle_readyz)
        runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await runner.setup()
        site = web.TCPSite(runner, self._host, self._port)
        try:
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        self._bound_port = runner.addresses[0][1]
        _log.info("ops_server_started", host=self._host, port=self._bound_port)

    async def stop(self) -> None:
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()

    # -- handlers --------------------------------------------------------------------------------------

    async def _handle_metrics(self, request: web.Request) -> web.Response:
        body, content_type = self._metrics.render_for(request.headers.get("Accept"))
        return web.Response(body=body, headers={"Content-Type": content_type})

    async def _handle_healthz(self, _request: web.Request) -> web.Response:
        try:
            alive = True if self._liveness is None else bool(self._liveness())
        except Exception:
            _log.exception("liveness_check_failed")
            alive = False
        return web.json_response({"alive": alive}, status=200 if alive else 503)

    async def _handle_readyz(self, _request: web.Request) -> web.Response:
        names = list(self._checks)
        results = await asyncio.gather(*(self._run_check(n, self._checks[n]) for n in names))
        checks = dict(zip(names, results, strict=True))
        failed = [n for n, ok in checks.items() if not ok]
        body = {"ready": not failed, "checks": checks, "failed": failed}
        return web.json_response(body, status=503 if failed else 200)

    async def _run_check(self, name: str, check: ReadinessCheck) -> bool:
        try:
            async with asyncio.timeout(self._check_timeout):
                result = check()
                if inspect.isawaitable(result):
                    result = await result
            return bool(result)
        except TimeoutError:
            _log.warning("readiness_check_timed_out", check=name, timeout_seconds=self._check_timeout)
            return False
        except Exception:
            _log.exception("readiness_check_failed", check=name)
            return False
