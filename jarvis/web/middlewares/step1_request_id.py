"""Step 1: gives every request an ID, a valid incoming one else a fresh uuid4.

The ID is bound to the request's context (for log records), stored on the request (for code
running outside that context, such as the access logger) and sent back on every response by
an ``on_response_prepare`` hook — which runs before the headers leave, so WebSocket upgrades,
error pages and 404s carry it as well as ordinary responses.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware
from multidict import istr

from jarvis.logline import ACTION, Action
from jarvis.request_context import bind_request, parse_traceparent, request_id_for
from jarvis.web.keys import REQUEST_ID_KEY, TRACE_KEY

logger = logging.getLogger("jarvis.request_id")

_TRACEPARENT = istr("traceparent")

ResponseHook = Callable[[web.Request, web.StreamResponse], Awaitable[None]]


def request_id_middleware(header_name: str) -> Middleware:
    """Build the middleware that reads and assigns request IDs from ``header_name``."""

    # Case-insensitive header names built once: looking up a plain str folds its case each time.
    header = istr(header_name)

    @web.middleware
    async def assign_request_id(request: web.Request, handler: Handler) -> web.StreamResponse:
        headers = request.headers
        incoming = headers.get(header)
        request_id = request_id_for(incoming)
        trace = parse_traceparent(headers.get(_TRACEPARENT))
        request[REQUEST_ID_KEY] = request_id
        # Set even when None: a key a reader misses costs it an exception.
        request[TRACE_KEY] = trace
        bind_request(request_id, trace)
        if incoming is not None and incoming != request_id:
            # Only the length is logged: the rejected value itself may be the attack.
            logger.warning(
                "rejected invalid request ID header",
                extra={ACTION: Action.REQUEST_ID_REJECTED, "rejected_length": len(incoming)},
            )
        return await handler(request)

    return assign_request_id


def request_id_response_hook(header_name: str) -> ResponseHook:
    """Build the ``on_response_prepare`` hook that puts the ID on every response."""

    header = istr(header_name)

    async def send_request_id(request: web.Request, response: web.StreamResponse) -> None:
        request_id = request.get(REQUEST_ID_KEY)
        if request_id is not None:
            response.headers[header] = request_id

    return send_request_id
