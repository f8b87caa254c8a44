"""The lines a ``DirectLogger`` writes, rendered from templates: byte for byte the line
``render_plain_json_line(event_of_call(...))`` makes, with less work.

A call site logs the same message at the same level, from the same code, every time: the
fields before the request's own (level, logger, message) and those after it (module,
function, line) are rendered once per (level, message, code) and kept. A line is then the
time, that template, the request ID and trace put in as they are (IDs are checked at the door,
``jarvis.logline.REQUEST_ID_PATTERN``, traces are hex digits: nothing JSON escapes), and the
call's own fields rendered by orjson as an object whose opening brace becomes the comma after
``line``. That spares the dict the processors would build, its keys inserted one by one and
its table grown twice: some 3,400 of the 24,700 instructions a chat line cost the event loop
(valgrind), 10% of the time rendering it took.

Lines outside a request, or whose fields name a field of the line's head (the request ID, a
trace, the time...), or that orjson refuses, are rendered from their dict as before.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import Any

import orjson

from jarvis.logline import (
    FUNCTION,
    LEVEL,
    LINE,
    LOGGER,
    MESSAGE,
    MODULE,
    REQUEST_ID,
    SPAN_ID,
    TIMESTAMP,
    TRACE_ID,
)
from jarvis.logs.processors import event_of_call
from jarvis.logs.render import render_plain_json_line
from jarvis.request_context import current_request

# The fields ``event_of_call`` puts before the call's own: a call naming one of them changes
# that field in place, where a template would write it twice.
_HEAD_FIELDS = frozenset({TIMESTAMP, LEVEL, LOGGER, MESSAGE, REQUEST_ID, TRACE_ID, SPAN_ID,
                          MODULE, FUNCTION, LINE})  # fmt: skip
# Kinds of line kept: messages are constants at most call sites, but a site may format one.
MAX_TEMPLATES = 1024

_OPEN = b'{"timestamp":'
_UNSEEN: Any = object()


class DirectLineTemplates:
    """Renders the lines of one logger's direct calls."""

    def __init__(self, logger_name: str) -> None:
        self._logger_name = logger_name
        self._logger = orjson.dumps(logger_name)
        # Per (level, message, code): the text before the request ID, and after it up to the
        # call's fields; None when orjson refuses the message.
        self._templates: dict[tuple[int, str, tuple[str, str, int]], tuple[bytes, bytes] | None]
        self._templates = {}

    @property
    def kinds_held(self) -> int:
        return len(self._templates)

    def render(
        self, level: int, message: str, code: tuple[str, str, int], fields: Mapping[str, Any]
    ) -> bytes:
        """The line of ``logger.log(level, message, extra=fields)`` made at ``code`` (module,
        function, line), now, in the current request's context."""
        facts = current_request.get()
        if facts is not None and fields and _HEAD_FIELDS.isdisjoint(fields):
            request_id = facts.request_id
            kind = (level, message, code)
            template = self._templates.get(kind, _UNSEEN)
            if template is _UNSEEN:
                template = self._template(kind)
            if template is not None and request_id is not None:
                try:
                    own = orjson.dumps(fields, option=orjson.OPT_APPEND_NEWLINE)
                except (TypeError, orjson.JSONEncodeError):
                    pass
                else:
                    before, after = template
                    trace = facts.trace
                    return b"".join(
                        (
                            _OPEN, orjson.dumps(time.time()), before, request_id.encode(),
                            after if trace is None else _traced(trace.trace_id, trace.span_id)
                            + after[1:],
                            b",", own[1:],
                        )
                    )  # fmt: skip
        event = event_of_call(level, self._logger_name, message, code, fields)
        return render_plain_json_line(event)

    def _template(self, kind: tuple[int, str, tuple[str, str, int]]) -> tuple[bytes, bytes] | None:
        if len(self._templates) >= MAX_TEMPLATES:
            self._templates.clear()
        level, message, (module, function, line) = kind
        dumps = orjson.dumps
        template: tuple[bytes, bytes] | None
        try:
            template = (
                b',"level":' + dumps(logging.getLevelName(level)) + b',"logger":' + self._logger
                + b',"message":' + dumps(message) + b',"request_id":"',
                b'","module":' + dumps(module) + b',"function":' + dumps(function)
                + b',"line":' + dumps(line),
            )  # fmt: skip
        except (TypeError, orjson.JSONEncodeError):
            template = None
        self._templates[kind] = template
        return template


def _traced(trace_id: str, span_id: str) -> bytes:
    # Hex digits only (``jarvis.request_context.parse_traceparent``): nothing to escape.
    return f'","trace_id":"{trace_id}","span_id":"{span_id}"'.encode()
