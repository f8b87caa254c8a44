"""``GET /health``: the last result of the background probes, never a probe of its own."""

from __future__ import annotations

from aiohttp import web

from jarvis.web.keys import HEALTH
from jarvis.web.responses import json_response


async def health(request: web.Request) -> web.Response:
    status, body = request.app[HEALTH].report()
    return json_response(body, status=status)
