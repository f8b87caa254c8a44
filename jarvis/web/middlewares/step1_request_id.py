"""Step 1: gives every request an ID, a valid incoming one else a fresh uuid4.

The ID is bound to the request's context (for log records), stored on the request (for code
running outside that context, such as the access logger) and sent back on every response by
the ``on_response_prepare`` hook — which runs before the headers leave, so WebSocket upgrades,
error pages and 404s carry it as well as ordinary responses.
"""

from __future__ import annotations

import logging

from aiohttp import web
from multidict import istr

from jarvis.logline import ACTION, Action
from jarvis.request_context import (
    TraceContext,
    current_request,
    new_uuid4,
    parse_traceparent,
    request_id_for,
)

logger = logging.getLogger("jarvis.request_id")

_TRACEPARENT = istr("traceparent")


class RequestIdentity:
    """Reads request IDs (and W3C traces) from request headers."""

    def __init__(self, header_name: str) -> None:
        # Case-insensitive header names built once: looking up a plain str folds its case
        # each time.
        self.header = istr(header_name)

    def bind(self, request: web.Request) -> tuple[str, TraceContext | None]:
        """The request's ID and trace, made current in its context."""
        headers = request.headers
        incoming = headers.get(self.header)
        request_id = new_uuid4() if incoming is None else request_id_for(incoming)
        traceparent = headers.get(_TRACEPARENT)
        trace = None if traceparent is None else parse_traceparent(traceparent)
        current_request.set((request_id, trace))
        if incoming is not None and incoming != request_id:
            # Only the length is logged: the rejected value itself may be the attack.
            logger.warning(
                "rejected invalid request ID header",
                extra={ACTION: Action.REQUEST_ID_REJECTED, "rejected_length": len(incoming)},
            )
        return request_id, trace
