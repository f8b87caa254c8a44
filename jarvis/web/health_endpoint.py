"""``GET /health``: the last result of the background probes, never a probe of its own."""

from __future__ import annotations

from aiohttp import web

from jarvis.web.keys import HEALTH


async def health(request: web.Request) -> web.Response:
    status, body = request.app[HEALTH].report()
    return web.json_response(body, status=status)
