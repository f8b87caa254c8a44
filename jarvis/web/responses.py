"""What the server answers (JSON bodies, and what it says when it says no), and the route
name requests are counted and logged under."""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web

from jarvis.request_context import get_request_id


def json_response(body: Any, status: int = 200) -> web.Response:
    """``web.json_response``'s answer, rendered by orjson (several times faster than
    ``json``) and sent as the UTF-8 bytes it gives, not decoded to text and encoded back."""
    return web.Response(body=orjson.dumps(body), status=status, headers=_JSON_HEADERS)


# What web.json_response says; a plain dict, copied by each response as its headers.
_JSON_HEADERS = {"Content-Type": "application/json; charset=utf-8"}


def error_body(request: web.Request, status: int, error: str, **fields: object) -> web.Response:
    """A JSON error response carrying the request's ID."""
    body = {"error": error, "status": status, "request_id": get_request_id(), **fields}
    return json_response(body, status=status)


def too_many_requests(retry_after_seconds: int) -> web.HTTPTooManyRequests:
    """A 429 telling the client, in ``Retry-After``, when to try again."""
    return web.HTTPTooManyRequests(headers={"Retry-After": str(retry_after_seconds)})


# The route of requests no route matched: user-chosen paths never become label values.
UNMATCHED = "unmatched"


def route_of(request: web.BaseRequest) -> str:
    """The route template of a request (``/chat``), never its raw path; ``unmatched`` when no
    route matched. The observed routes know theirs; this is for requests aiohttp answers
    before any route runs (malformed HTTP, a refused ``Expect``)."""
    try:
        resource = request.match_info.route.resource  # type: ignore[attr-defined]
    except (AttributeError, AssertionError):
        # A request aiohttp refused before routing (malformed HTTP) has no match info.
        return UNMATCHED
    # The catch-all route, named so (``jarvis.web.middlewares``).
    if resource is None or resource.name == UNMATCHED:
        return UNMATCHED
    return resource.canonical
