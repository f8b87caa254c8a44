"""The shipper's own HTTP port: ``/metrics`` for Prometheus and ``/health`` beside it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aiohttp import web
from aioprometheus.renderer import render

from shipper.metrics import ShipperMetrics


def create_status_app(
    metrics: ShipperMetrics,
    health: Callable[[], dict[str, Any]],
    refresh: Callable[[], None],
) -> web.Application:
    """An app serving ``metrics`` (after ``refresh()`` brings the gauges up to date) and
    the ``health()`` summary.

    ``/health`` answers 200 while the shipper runs, even with Elasticsearch down: the
    shipper is then doing its job (keeping the lines); the summary says so.
    """

    async def metrics_handler(request: web.Request) -> web.Response:
        refresh()
        body, headers = render(metrics.registry, request.headers.getall("Accept", []))
        return web.Response(body=body, headers=headers)

    async def health_handler(request: web.Request) -> web.Response:
        summary = health()
        return web.json_response(summary)

    app = web.Application()
    app.router.add_get("/metrics", metrics_handler)
    app.router.add_get("/health", health_handler)
    return app


async def start_status_server(
    app: web.Application, host: str, port: int
) -> tuple[web.AppRunner, int]:
    """Serve ``app``; returns the runner (to clean up) and the port bound (``port`` 0 picks one)."""
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    return runner, int(runner.addresses[0][1])
