"""``GET /metrics`` in the Prometheus text format."""

from __future__ import annotations

from aiohttp import web

from jarvis.metrics_exposition import CONTENT_TYPE, render_text
from jarvis.web.keys import LOG_WRITER, METRICS


async def metrics(request: web.Request) -> web.Response:
    registry = request.app[METRICS]
    writer = request.app.get(LOG_WRITER)
    if writer is not None:
        registry.count_log_lines_dropped(writer.lines_dropped)
    body = await render_text(registry.registry)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE})
