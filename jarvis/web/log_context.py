"""Log fields naming a request, for code that logs about a request it holds."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from jarvis.logline import REQUEST_ID, SPAN_ID, TRACE_ID
from jarvis.request_context import get_request_id, get_trace
from jarvis.web.keys import REQUEST_FACTS_KEY, REQUEST_ID_KEY


def create_log_context(request: web.Request | None = None, **fields: Any) -> dict[str, Any]:
    """Log fields for ``request``: its request ID, trace, method and path, plus ``fields``.

    Meant as ``logger.info("chat_success", extra=create_log_context(request, user_id=...))``.
    Without a request, the ID and trace of the request being served in this context.
    """
    context: dict[str, Any] = {}
    request_id = request.get(REQUEST_ID_KEY) if request is not None else None
    context[REQUEST_ID] = request_id or get_request_id()
    if request is None:
        trace = get_trace()
    else:
        facts = request.get(REQUEST_FACTS_KEY)
        trace = facts.trace if facts is not None else None
    if trace is not None:
        context[TRACE_ID] = trace.trace_id
        context[SPAN_ID] = trace.span_id
    if request is not None:
        context["method"] = request.method
        context["path"] = request.path
    context.update(fields)
    return context
