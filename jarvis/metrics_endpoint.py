"""``GET /metrics`` in the Prometheus text format."""

from __future__ import annotations

from aiohttp import web

from jarvis.app_keys import METRICS
from jarvis.metrics_exposition import CONTENT_TYPE, render_text


async def metrics(request: web.Request) -> web.Response:
    body = await render_text(request.app[METRICS].registry)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE})
