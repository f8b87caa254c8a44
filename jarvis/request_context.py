"""The request ID and trace context of the current request, and helpers to log with them.

The ID lives in a contextvar so that every log record made while serving a request carries
it, and on the request itself (``request[REQUEST_ID_KEY]``) for code that runs outside the
handler's context, such as aiohttp's access logger.
"""

from __future__ import annotations

import re
import uuid
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from aiohttp import web

# Letters, digits and a few separators only: such an ID cannot forge a log line, inject
# markup or break a query, whatever a client sends.
_VALID_REQUEST_ID = re.compile(r"[A-Za-z0-9._:\-]{1,128}")
_TRACEPARENT = re.compile(r"([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})")

REQUEST_ID_KEY = web.RequestKey("request_id", str)
TRACE_KEY: web.RequestKey[TraceContext | None]

_request_id: ContextVar[str | None] = ContextVar("request_id", default=None)
_trace: ContextVar[TraceContext | None] = ContextVar("trace", default=None)


@dataclass(frozen=True)
class TraceContext:
    trace_id: str
    span_id: str


TRACE_KEY = web.RequestKey("trace", TraceContext)


def is_valid_request_id(value: str | None) -> bool:
    """True when ``value`` may be used as a request ID as it is."""
    return value is not None and _VALID_REQUEST_ID.fullmatch(value) is not None


def new_request_id() -> str:
    return str(uuid.uuid4())


def parse_traceparent(value: str | None) -> TraceContext | None:
    """The trace and parent span of a W3C ``traceparent`` header, or None when invalid."""
    if not value:
        return None
    match = _TRACEPARENT.fullmatch(value.strip())
    if match is None:
        return None
    version, trace_id, span_id, _flags = match.groups()
    if version == "ff" or set(trace_id) == {"0"} or set(span_id) == {"0"}:
        return None
    return TraceContext(trace_id=trace_id, span_id=span_id)


def get_request_id() -> str | None:
    """The ID of the request being served in this context, or None outside a request."""
    return _request_id.get()


def get_trace() -> TraceContext | None:
    return _trace.get()


def bind_request(request_id: str, trace: TraceContext | None) -> None:
    """Make ``request_id`` (and trace) current for the rest of this task's context."""
    _request_id.set(request_id)
    _trace.set(trace)


def create_log_context(request: web.Request | None = None, **fields: Any) -> dict[str, Any]:
    """Log fields for ``request``: its request ID, trace, method and path, plus ``fields``.

    Meant as ``logger.info("chat_success", extra=create_log_context(request, user_id=...))``.
    """
    context: dict[str, Any] = {}
    request_id = request.get(REQUEST_ID_KEY) if request is not None else None
    context["request_id"] = request_id or get_request_id()
    trace = request.get(TRACE_KEY) if request is not None else get_trace()
    if trace is not None:
        context["trace_id"] = trace.trace_id
        context["span_id"] = trace.span_id
    if request is not None:
        context["method"] = request.method
        context["path"] = request.path
    context.update(fields)
    return context
