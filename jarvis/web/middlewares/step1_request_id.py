"""Step 1: gives every request an ID, a valid incoming one else a fresh uuid4.

The ID, with the rest of what the steps learnt of the request, is bound to the request's
context (``jarvis.request_context.current_request``): every log record, the handler and the
access logger read it there. The steps send it back on every response.
"""

from __future__ import annotations

import logging

from aiohttp import web
from multidict import istr

from jarvis.logline import ACTION, Action
from jarvis.request_context import (
    RequestFacts,
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

    def bind(self, request: web.Request, client: str, route: str) -> RequestFacts:
        """The request's facts (its ID and trace, ``client`` and ``route``), made current in
        its context."""
        headers = request.headers
        incoming = headers.get(self.header)
        request_id = new_uuid4() if incoming is None else request_id_for(incoming)
        traceparent = headers.get(_TRACEPARENT)
        trace = None if traceparent is None else parse_traceparent(traceparent)
        facts = RequestFacts(request_id, trace, client, route)
        current_request.set(facts)
        if incoming is not None and incoming != request_id:
            # Only the length is logged: the rejected value itself may be the attack.
            logger.warning(
                "rejected invalid request ID header",
                extra={ACTION: Action.REQUEST_ID_REJECTED, "rejected_length": len(incoming)},
            )
        return facts
