"""Step 3: turns every error into a JSON body that names the request ID; unexpected ones are
logged with their traceback and become a 500 without leaking internals."""

from __future__ import annotations

import logging

from aiohttp import web

from jarvis.logline import ACTION, ROUTE, Action
from jarvis.web.responses import error_body

logger = logging.getLogger("jarvis.errors")


def has_json_body(exc: web.HTTPException) -> bool:
    """Whether ``exc`` is answered with a JSON body: errors are, where an exception with no
    body (a redirect, a 204) is for aiohttp to answer itself."""
    return not exc.empty_body and exc.status >= 400


def json_error(request: web.Request, exc: web.HTTPException) -> web.StreamResponse:
    """The JSON body answering ``exc`` (one ``has_json_body`` says has one)."""
    response = error_body(request, exc.status, exc.reason)
    for name, value in exc.headers.items():
        if name.lower() not in ("content-type", "content-length"):
            response.headers[name] = value
    return response


def internal_error(request: web.Request, route: str) -> web.StreamResponse:
    """Log the exception being handled with its traceback; answer a bare 500."""
    logger.exception("unhandled error", extra={ACTION: Action.UNHANDLED_ERROR, ROUTE: route})
    return error_body(request, 500, "Internal Server Error")
