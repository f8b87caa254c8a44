"""What the server learnt about the request being served (its ID, trace, client and route),
in a contextvar.

The first step around every request sets it (``jarvis.web.middlewares``); every log record
made while serving the request reads it (``jarvis.logs.processors``), as do the handlers and
aiohttp's access logger, which runs in the request's own task after its last byte is sent.
Which IDs are acceptable is the log-line contract's rule
(``jarvis.logline.is_valid_request_id``), shared with ``jarvis-logs``.
"""

from __future__ import annotations

import os
import random
import re
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING

from jarvis.logline import is_valid_request_id

if TYPE_CHECKING:
    from aiohttp import web

_TRACEPARENT = re.compile(r"([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})")


@dataclass(frozen=True)
class TraceContext:
    trace_id: str
    span_id: str


@dataclass(slots=True)
class RequestFacts:
    # Valid per ``jarvis.logline.REQUEST_ID_PATTERN``, so no character of it is one JSON
    # escapes (access lines write it as it is); None only for a request aiohttp answered
    # before the steps ran (malformed HTTP).
    request_id: str | None
    # None when the request came without a (valid) W3C trace.
    trace: TraceContext | None
    # The client behind our trusted proxies (step 2).
    client: str
    # The route template it is counted and logged under (``jarvis.web.responses.route_of``).
    route: str
    # The response whose headers went out, once they did: set by ``prepare_response`` for a
    # handler that sends its own (``jarvis.web.middlewares``), for step 4.
    started: web.StreamResponse | None = None


# The facts of the request being served: one variable, set once a request. Read where the
# request is at hand too: a request's own storage (``request[key]``) costs two Python calls
# to set and one or three to read.
current_request: ContextVar[RequestFacts | None] = ContextVar("request", default=None)


def request_id_for(incoming: str | None) -> str:
    """The ID a request gets: ``incoming`` when it is a valid request ID, else a fresh uuid4."""
    if incoming is not None and is_valid_request_id(incoming):
        return incoming
    return new_uuid4()


# Request IDs are labels, not secrets (a client may send its own), so they come from a
# pseudo-random generator seeded from os.urandom: a system call per request cost more than
# the rest of making the ID. They are made _UUID4_BATCH at a time, each step over the whole
# batch in C (bytes, hex digits, dashes), and handed out one by one: formatting one ID in
# Python cost 0.8 µs, a request's observation budget being a few µs; from a batch, 0.3 µs.
_random_ids = random.Random()
_spare_ids: list[str] = []
_UUID4_BATCH = 512


def _start_afresh_in_child() -> None:
    # A forked replica must neither repeat its parent's sequence nor hand out its spares.
    _random_ids.seed()
    _spare_ids.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_start_afresh_in_child)

# Bytes 6 and 8 of a random UUID, their version (4) and variant (binary 10) bits set.
_VERSION_4 = bytes((byte & 0x0F) | 0x40 for byte in range(256))
_VARIANT_RFC_4122 = bytes((byte & 0x3F) | 0x80 for byte in range(256))
# Where each of an ID's 32 hex digits goes in its 37 characters (8-4-4-4-12 and a space).
_DIGIT_SLOTS = tuple(digit + sum(digit >= dash for dash in (8, 12, 16, 20)) for digit in range(32))


def _fresh_uuid4s() -> list[str]:
    """``_UUID4_BATCH`` random UUIDs, each formatted as ``str(uuid.uuid4())`` formats one."""
    raw = bytearray(_random_ids.randbytes(16 * _UUID4_BATCH))
    raw[6::16] = raw[6::16].translate(_VERSION_4)
    raw[8::16] = raw[8::16].translate(_VARIANT_RFC_4122)
    digits = raw.hex().encode("ascii")
    text = bytearray(b"-" * (37 * _UUID4_BATCH))
    text[36::37] = b" " * _UUID4_BATCH
    for digit, slot in enumerate(_DIGIT_SLOTS):
        text[slot::37] = digits[digit::32]
    return text.decode("ascii").split()


def new_uuid4() -> str:
    """A random (version 4) UUID, formatted as ``str(uuid.uuid4())`` formats one."""
    # list.pop and extend are atomic, so threads may share the spares; a thread that finds
    # none takes its ID from the batch it makes, as others may empty the list again first.
    try:
        return _spare_ids.pop()
    except IndexError:
        fresh = _fresh_uuid4s()
        found = fresh.pop()
        _spare_ids.extend(fresh)
        return found


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
    facts = current_request.get()
    return None if facts is None else facts.request_id


def get_id_and_trace() -> tuple[str | None, TraceContext | None]:
    """The ID and trace of the request being served in this context; Nones outside one."""
    facts = current_request.get()
    return (None, None) if facts is None else (facts.request_id, facts.trace)
