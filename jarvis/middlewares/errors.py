"""Turns every error into a JSON body that names the request ID; unexpected ones are logged
with their traceback and become a 500 without leaking internals."""

from __future__ import annotations

import logging

from aiohttp import web
from aiohttp.typedefs import Handler

from jarvis.request_context import REQUEST_ID_KEY

logger = logging.getLogger("jarvis.errors")


def error_body(request: web.Request, status: int, error: str, **fields: object) -> web.Response:
    """A JSON error response carrying the request's ID."""
    body = {"error": error, "status": status, "request_id": request.get(REQUEST_ID_KEY), **fields}
    return web.json_response(body, status=status)


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
            "unhandled error", extra={"action": "unhandled_error", "route": route_of(request)}
        )
        return error_body(request, 500, "Internal Server Error")


def route_of(request: web.BaseRequest) -> str:
    """The route template of a request (``/chat``), never its raw path; ``unmatched`` when no
    route matched, so user-chosen paths can never become label values."""
    try:
        match_info = request.match_info  # type: ignore[attr-defined]
    except (AttributeError, AssertionError):
        # A request aiohttp refused before routing (malformed HTTP) has no match info.
        return "unmatched"
    route = getattr(match_info, "route", None)
    resource = getattr(route, "resource", None)
    if resource is None:
        return "unmatched"
    return resource.canonical
