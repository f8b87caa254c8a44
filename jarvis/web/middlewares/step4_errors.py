"""Step 4: turns every error into a JSON body that names the request ID; unexpected ones are
logged with their traceback and become a 500 without leaking internals."""

from __future__ import annotations

import logging

from aiohttp import web
from aiohttp.typedefs import Handler

from jarvis.logline import ACTION, ROUTE, Action
from jarvis.web.responses import error_body, route_of

logger = logging.getLogger("jarvis.errors")


@web.middleware
async def json_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.empty_body or exc.status < 400:
            raise
        response = error_body(request, exc.status, exc.reason)
        for name, value in exc.headers.items():
            if name.lower() not in ("content-type", "content-length"):
                response.headers[name] = value
        return response
    except Exception:
        logger.exception(
            "unhandled error", extra={ACTION: Action.UNHANDLED_ERROR, ROUTE: route_of(request)}
        )
        return error_body(request, 500, "Internal Server Error")
