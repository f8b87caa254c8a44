"""aiohttp's access log as structured JSON, one line per HTTP request.

Every request writes one, so it skips the ``logging`` machinery (a record, a handler, six
processors: some 20 µs a line) when it can: when its records would reach one JSON log writer
alone, the line is built here (``access_event``: the fields, in the order the processors would
give them), rendered with orjson and queued to that writer, whose thread writes it as every
other line, off the loop. A processor added to ``jarvis.logs.processors`` for every line must
be mirrored in ``access_event``.
"""

from __future__ import annotations

import dis
import logging
from collections.abc import Callable
from time import time as _now

from aiohttp import hdrs
from aiohttp.abc import AbstractAccessLogger
from aiohttp.web import BaseRequest, StreamResponse

from jarvis.logline import (
    ACTION,
    DURATION_MS,
    FUNCTION,
    LEVEL,
    LINE,
    LOGGER,
    MESSAGE,
    MODULE,
    REQUEST_ID,
    ROUTE,
    SPAN_ID,
    TIMESTAMP,
    TRACE_ID,
    Action,
)
from jarvis.logs.handler import sole_json_writer
from jarvis.logs.render import render_json_line
from jarvis.web.keys import REQUEST_ID_KEY, TRACE_KEY
from jarvis.web.middlewares.step2_client_address import client_address_of
from jarvis.web.responses import route_of

ACCESS_LOGGER = logging.getLogger("jarvis.access")


class JsonAccessLogger(AbstractAccessLogger):
    """aiohttp calls this outside the handler's context, where the request-ID contextvar is not
    set (aiohttp issue 3787), so the ID is read from the request object instead.

    aiohttp builds one per connection; each looks once where its logger's records end up: at
    one JSON log writer alone (``jarvis serve``), lines go straight to it, else through
    ``logging`` as any other record (console lines, tests' own handlers)."""

    def __init__(self, logger: logging.Logger, log_format: str) -> None:
        super().__init__(logger, log_format)
        self._writer = sole_json_writer(logger)

    def log(self, request: BaseRequest, response: StreamResponse, time: float) -> None:
        event = access_event(request, response, time, self.logger.name)
        if self._writer is not None:
            self._writer.submit(render_json_line(event))
            return
        extra = {key: value for key, value in event.items() if key not in _RECORD_FIELDS}
        self.logger.info(event[MESSAGE], extra=extra)

    @property
    def enabled(self) -> bool:
        return self.logger.isEnabledFor(logging.INFO)


def _line_calling(function: Callable[..., object], method: str) -> int:
    """The source line where ``function`` calls ``method``: what a LogRecord made there says."""
    for instruction in dis.get_instructions(function):
        if instruction.argval == method and instruction.positions is not None:
            if instruction.positions.lineno is not None:
                return instruction.positions.lineno
    return function.__code__.co_firstlineno


# Lines written straight to the writer name the same code as those going through logging.
_LOG_CALL_LINE = _line_calling(JsonAccessLogger.log, "info")
# What a LogRecord says by itself; the rest goes in as ``extra``.
_RECORD_FIELDS = frozenset({TIMESTAMP, LEVEL, LOGGER, MESSAGE, MODULE, FUNCTION, LINE})


def access_event(
    request: BaseRequest, response: StreamResponse, seconds: float, logger_name: str
) -> dict[str, object]:
    """The access line of a request whose response is done, as the processors of
    ``jarvis.logs.processors`` would build it from a logging call in ``JsonAccessLogger.log``:
    same fields, same order."""
    method, path, status = request.method, request.path, response.status
    request_id = request.get(REQUEST_ID_KEY)
    # Body bytes when known up front; streamed responses report what they sent.
    size = response.content_length
    if size is None:
        size = response.body_length
    event: dict[str, object] = {
        TIMESTAMP: _now(),
        LEVEL: "INFO",
        LOGGER: logger_name,
        MESSAGE: f"{method} {path} {status}",
        REQUEST_ID: request_id,
        MODULE: "access_log",
        FUNCTION: "log",
        LINE: _LOG_CALL_LINE,
        ACTION: Action.HTTP_ACCESS,
        "method": method,
        "path": path,
        ROUTE: route_of(request),
        "status": status,
        DURATION_MS: round(seconds * 1000, 3),
        "bytes": size,
        "client": client_address_of(request),
        "user_agent": request.headers.get(hdrs.USER_AGENT, ""),
    }
    if request_id is None:
        del event[REQUEST_ID]
    trace = request.get(TRACE_KEY)
    if trace is not None:
        event[TRACE_ID] = trace.trace_id
        event[SPAN_ID] = trace.span_id
    return event
