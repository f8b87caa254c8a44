"""Log fields naming a request, for code that logs about a request it holds."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from jarvis.logline import REQUEST_ID, SPAN_ID, TRACE_ID
from jarvis.request_context import get_request_id, get_trace
from jarvis.web.keys import REQUEST_FACTS_KEY


def create_log_context(request: web.Request | None = None, **fields: Any) -> dict[str, Any]:
    """Log fields for ``request``: its request ID, trace, method and path, plus ``fields``.

    Meant as ``logger.info("chat_success", extra=create_log_context(request, user_id=...))``.
    Without a request, the ID and trace of the request being served in this context.
    """
    context: dict[str, Any] = {}
    facts = request.get(REQUEST_FACTS_KEY) if request is not None else None
    if facts is not None:
        context[REQUEST_ID], trace = facts.request_id, facts.trace
    else:
        context[REQUEST_ID] = get_request_id()
        trace = get_trace() if request is None else None
    if trace is not None:
        context[TRACE_ID] = trace.trace_id
        context[SPAN_ID] = trace.span_id
    if request is not None:
        context["method"] = request.method
        context["path"] = request.path
    context.update(fields)
    return context
