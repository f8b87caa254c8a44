"""The request ID and trace context of the request being served, in a contextvar.

Every log record made while serving a request reads them here (``jarvis.logs.processors``);
the request-ID middleware sets them (``current_request``). Code that runs outside the
handler's context, such as aiohttp's access logger, reads the copies kept on the request
(``jarvis.web.request_facts``). Which IDs are acceptable is the log-line contract's rule
(``jarvis.logline.is_valid_request_id``), shared with ``jarvis-logs``.
"""

from __future__ import annotations

import os
import random
import re
from contextvars import ContextVar
from dataclasses import dataclass

from jarvis.logline import is_valid_request_id

_TRACEPARENT = re.compile(r"([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})")


@dataclass(frozen=True)
class TraceContext:
    trace_id: str
    span_id: str


# The ID and trace of the request being served: one variable, so a request sets it once.
current_request: ContextVar[tuple[str | None, TraceContext | None]] = ContextVar(
    "request", default=(None, None)
)


def request_id_for(incoming: str | None) -> str:
    """The ID a request gets: ``incoming`` when it is a valid request ID, else a fresh uuid4."""
    if incoming is not None and is_valid_request_id(incoming):
        return incoming
    return new_uuid4()


# Request IDs are labels, not secrets (a client may send its own), so they come from a
# pseudo-random generator seeded from os.urandom: a system call per request cost more than
# the rest of making the ID. Reseeded in a forked child, so replicas never share a sequence.
_random_ids = random.Random()
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_random_ids.seed)
# The version (4) and variant (binary 10) bits of a random UUID.
_UUID4_CLEARED = ~((0xF000 << 64) | (0xC000 << 48))
_UUID4_BITS = (0x4000 << 64) | (0x8000 << 48)


def new_uuid4() -> str:
    """A random (version 4) UUID, formatted as ``str(uuid.uuid4())`` formats one."""
    h = f"{_random_ids.getrandbits(128) & _UUID4_CLEARED | _UUID4_BITS:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


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
    return current_request.get()[0]


def get_trace() -> TraceContext | None:
    return current_request.get()[1]
