"""The shipper's own HTTP port: ``/metrics`` for Prometheus and ``/health`` beside it.

Both report the stages' own state: whether the sink reaches Elasticsearch, how many
rotated files the rotator holds back, how far the registry lags behind the files.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from jarvis.metrics_exposition import CONTENT_TYPE, render_text
from shipper.disk_health import DiskHealth
from shipper.metrics import ShipperMetrics
from shipper.registry import FileRegistry
from shipper.rotator import Rotator
from shipper.sink.bulk_sink import BulkSink


@dataclass(frozen=True)
class ShipperStatus:
    metrics: ShipperMetrics
    registry: FileRegistry
    sink: BulkSink
    rotator: Rotator
    disk: DiskHealth

    def health(self) -> dict[str, Any]:
        """The ``/health`` summary: status ``ok``, or ``degraded`` while Elasticsearch is down
        or a disk write fails (``disk_errors`` names each failing target).

        It is served with a 200 while the shipper runs, even with Elasticsearch down: the
        shipper is then doing its job (keeping the lines); the summary says so.
        """
        reachable = self.sink.reachable
        return {
            "status": "ok" if reachable and self.disk.ok else "degraded",
            "elasticsearch_up": reachable,
            "disk_errors": self.disk.report(),
            "files_held_back": self.rotator.held_back,
            "time": time.time(),
            **dataclasses.asdict(self.registry.lag()),
        }

    def refresh_gauges(self) -> None:
        """Bring the gauges of what is read and not yet acknowledged up to date."""
        lag = self.registry.lag()
        self.metrics.lag_bytes.set({}, lag.lag_bytes)
        self.metrics.lag_seconds.set({}, lag.lag_seconds)
        self.metrics.queue_events.set({}, lag.events_in_flight)


def create_status_app(status: ShipperStatus) -> web.Application:
    """An app serving the metrics (gauges refreshed first) and the health summary."""

    async def metrics_handler(request: web.Request) -> web.Response:
        status.refresh_gauges()
        body = await render_text(status.metrics.registry)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE})

    async def health_handler(request: web.Request) -> web.Response:
        return web.json_response(status.health())

    app = web.Application()
    app.router.add_get("/metrics", metrics_handler)
    app.router.add_get("/health", health_handler)
    return app


class StatusPortUnavailable(Exception):
    """The status server cannot listen where it was told; the message says where and why."""


async def start_status_server(
    app: web.Application, host: str, port: int
) -> tuple[web.AppRunner, int]:
    """Serve ``app``; returns the runner (to clean up) and the port bound (``port`` 0 picks one)."""
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    try:
        await site.start()
    except OSError as error:
        await runner.cleanup()
        raise StatusPortUnavailable(
            f"cannot serve /metrics and /health on {host}:{port}: {error.strerror or error}"
            " (choose another with --metrics-port or SHIPPER_METRICS_PORT; 0 picks a free one)"
        ) from None
    return runner, int(runner.addresses[0][1])
