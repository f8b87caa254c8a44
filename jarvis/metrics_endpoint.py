"""``GET /metrics`` in the Prometheus text format."""

from __future__ import annotations

import asyncio

from aiohttp import web
from aioprometheus.formats.text import TextFormatter

from jarvis.app_keys import METRICS


async def metrics(request: web.Request) -> web.Response:
    registry = request.app[METRICS].registry
    formatter = TextFormatter()
    blocks = []
    for collector in registry.get_all():
        blocks.append(formatter.marshall_collector(collector))
        # Give other requests a turn between metric families, so a registry with many
        # label sets cannot hold the loop for the whole render (aioprometheus issue 98).
        await asyncio.sleep(0)
    body = "\n".join(sorted(blocks)) + "\n"
    return web.Response(
        body=body.encode(), headers={"Content-Type": "text/plain; version=0.0.4; charset=utf-8"}
    )
