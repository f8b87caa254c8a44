"""aiohttp's access log as structured JSON, one line per HTTP request."""

from __future__ import annotations

import logging

from aiohttp.abc import AbstractAccessLogger
from aiohttp.web import BaseRequest, StreamResponse

from jarvis.middlewares.client_address import client_address_of
from jarvis.middlewares.errors import route_of
from jarvis.request_context import REQUEST_ID_KEY, TRACE_KEY

ACCESS_LOGGER = logging.getLogger("jarvis.access")


class JsonAccessLogger(AbstractAccessLogger):
    """aiohttp calls this outside the handler's context, where the request-ID contextvar is not
    set (aiohttp issue 3787), so the ID is read from the request object instead."""

    def log(self, request: BaseRequest, response: StreamResponse, time: float) -> None:
        fields: dict[str, object] = {
            "action": "http_access",
            "method": request.method,
            "path": request.path,
            "route": route_of(request),
            "status": response.status,
            "duration_ms": round(time * 1000, 3),
            # Body bytes when known up front; streamed responses report what they sent.
            "bytes": response.content_length
            if response.content_length is not None
            else response.body_length,
            "client": client_address_of(request),
            "user_agent": request.headers.get("User-Agent", ""),
        }
        request_id = request.get(REQUEST_ID_KEY)
        if request_id is not None:
            fields["request_id"] = request_id
        trace = request.get(TRACE_KEY)
        if trace is not None:
            fields["trace_id"] = trace.trace_id
            fields["span_id"] = trace.span_id
        self.logger.info("%s %s %s", request.method, request.path, response.status, extra=fields)

    @property
    def enabled(self) -> bool:
        return self.logger.isEnabledFor(logging.INFO)
