"""Background health probes of the server's dependencies (``GET /health`` reports them).

Probes run on a timer, not per request, so a health check never waits on a slow dependency
and a load balancer polling ``/health`` cannot amplify load onto Ollama.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from jarvis.logline import ACTION, ERROR, Action
from jarvis.metrics import Metrics

logger = logging.getLogger("jarvis.health")

Probe = Callable[[], Awaitable[None]]


@dataclass(frozen=True)
class Dependency:
    name: str
    probe: Probe
    critical: bool


@dataclass
class DependencyStatus:
    healthy: bool | None = None
    latency_seconds: float | None = None
    error: str | None = None
    checked_at: float | None = None


class HealthMonitor:
    """Probes every dependency each ``interval`` seconds, each probe given ``timeout``; keeps
    the last result for ``/health`` and feeds the ``service_*`` metrics."""

    def __init__(
        self, dependencies: list[Dependency], metrics: Metrics, interval: float, timeout: float
    ) -> None:
        self._dependencies = dependencies
        self._metrics = metrics
        self._interval = interval
        self._timeout = timeout
        self._status = {d.name: DependencyStatus() for d in dependencies}
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Probe everything once (so the first ``/health`` is meaningful), then keep probing."""
        await self.check_all()
        self._task = asyncio.create_task(self._run(), name="health-probes")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            await self.check_all()

    async def check_all(self) -> None:
        await asyncio.gather(*(self._check(d) for d in self._dependencies))

    async def _check(self, dependency: Dependency) -> None:
        started = time.perf_counter()
        error: str | None = None
        try:
            await asyncio.wait_for(dependency.probe(), self._timeout)
        except TimeoutError:
            error = f"no answer within {self._timeout:g}s"
        except Exception as exc:
            error = str(exc) or type(exc).__name__
        latency = time.perf_counter() - started
        status = self._status[dependency.name]
        healthy = error is None
        if status.healthy is not healthy:
            log = logger.info if healthy else logger.error
            log(
                "dependency %s is %s",
                dependency.name,
                "up" if healthy else "down",
                extra={
                    ACTION: Action.HEALTH_CHANGE,
                    "service": dependency.name,
                    "health": "up" if healthy else "down",
                    ERROR: error,
                },
            )
        status.healthy, status.latency_seconds, status.error = healthy, latency, error
        status.checked_at = time.time()
        self._metrics.service_health_status.set({"service": dependency.name}, 1 if healthy else 0)
        self._metrics.service_response_seconds.observe({"service": dependency.name}, latency)

    def report(self) -> tuple[int, dict[str, object]]:
        """The HTTP status and body of ``/health``: 503 when a critical dependency is down."""
        services: dict[str, object] = {}
        critical_down = degraded = False
        for dependency in self._dependencies:
            status = self._status[dependency.name]
            up = bool(status.healthy)
            services[dependency.name] = {
                "status": "up" if up else "down",
                "critical": dependency.critical,
                "latency_ms": None
                if status.latency_seconds is None
                else round(status.latency_seconds * 1000, 3),
                "checked_at": status.checked_at,
                **({"error": status.error} if status.error else {}),
            }
            if not up:
                critical_down |= dependency.critical
                degraded = True
        overall = "unhealthy" if critical_down else "degraded" if degraded else "healthy"
        return (503 if critical_down else 200), {"status": overall, "services": services}
