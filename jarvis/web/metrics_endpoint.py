"""``GET /metrics`` in the Prometheus text format."""

from __future__ import annotations

from aiohttp import web

from jarvis.metrics_exposition import CONTENT_TYPE, render_text
from jarvis.web.keys import METRICS


async def metrics(request: web.Request) -> web.Response:
    body = await render_text(request.app[METRICS].registry)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE})
