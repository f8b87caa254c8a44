"""aiohttp's access log as structured JSON, one line per HTTP request."""

from __future__ import annotations

import logging

from aiohttp.abc import AbstractAccessLogger
from aiohttp.web import BaseRequest, StreamResponse

from jarvis.logline import ACTION, DURATION_MS, REQUEST_ID, ROUTE, SPAN_ID, TRACE_ID, Action
from jarvis.web.keys import REQUEST_ID_KEY, TRACE_KEY
from jarvis.web.middlewares.step2_client_address import client_address_of
from jarvis.web.responses import route_of

ACCESS_LOGGER = logging.getLogger("jarvis.access")


class JsonAccessLogger(AbstractAccessLogger):
    """aiohttp calls this outside the handler's context, where the request-ID contextvar is not
    set (aiohttp issue 3787), so the ID is read from the request object instead."""

    def log(self, request: BaseRequest, response: StreamResponse, time: float) -> None:
        fields: dict[str, object] = {
            ACTION: Action.HTTP_ACCESS,
            "method": request.method,
            "path": request.path,
            ROUTE: route_of(request),
            "status": response.status,
            DURATION_MS: round(time * 1000, 3),
            # Body bytes when known up front; streamed responses report what they sent.
            "bytes": response.content_length
            if response.content_length is not None
            else response.body_length,
            "client": client_address_of(request),
            "user_agent": request.headers.get("User-Agent", ""),
        }
        request_id = request.get(REQUEST_ID_KEY)
        if request_id is not None:
            fields[REQUEST_ID] = request_id
        trace = request.get(TRACE_KEY)
        if trace is not None:
            fields[TRACE_ID] = trace.trace_id
            fields[SPAN_ID] = trace.span_id
        self.logger.info("%s %s %s", request.method, request.path, response.status, extra=fields)

    @property
    def enabled(self) -> bool:
        return self.logger.isEnabledFor(logging.INFO)
