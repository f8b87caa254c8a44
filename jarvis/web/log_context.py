"""Log fields naming a request, for code that logs about a request it holds."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from jarvis.logline import REQUEST_ID, SPAN_ID, TRACE_ID
from jarvis.request_context import get_id_and_trace


def create_log_context(request: web.Request | None = None, **fields: Any) -> dict[str, Any]:
    """Log fields for ``request``: its request ID, trace, method and path, plus ``fields``.

    Meant as ``logger.info("chat_success", extra=create_log_context(request, user_id=...))``,
    where ``request`` is the request being served in this context, whose ID and trace these
    are; without a request, those of the request being served, if any.
    """
    request_id, trace = get_id_and_trace()
    context: dict[str, Any] = {REQUEST_ID: request_id}
    if trace is not None:
        context[TRACE_ID] = trace.trace_id
        context[SPAN_ID] = trace.span_id
    if request is not None:
        context["method"] = request.method
        context["path"] = request.path
    context.update(fields)
    return context
