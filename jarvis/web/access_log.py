"""aiohttp's access log as structured JSON, one line per HTTP request, and the request's
``http_requests_total`` and ``http_request_duration_seconds`` samples: aiohttp calls its access
logger once for every request it answered, with the time from its arrival to its last byte.

Every request writes a line, so it skips the ``logging`` machinery (a record, a handler, six
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
from typing import ClassVar

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
from jarvis.logs.render import render_plain_json_line
from jarvis.metrics import Metrics
from jarvis.web.keys import REQUEST_FACTS_KEY
from jarvis.web.request_facts import RequestFacts
from jarvis.web.request_metrics import RequestSeries
from jarvis.web.responses import route_of

ACCESS_LOGGER = logging.getLogger("jarvis.access")


class JsonAccessLogger(AbstractAccessLogger):
    """aiohttp calls this outside the handler's context, where the request-ID contextvar is not
    set (aiohttp issue 3787), so what the middleware learnt is read from the request instead.

    aiohttp builds one per connection; each looks once where its logger's records end up: at
    one JSON log writer alone (``jarvis serve``), lines go straight to it, else through
    ``logging`` as any other record (console lines, tests' own handlers). The class an app
    runs is ``for_metrics``'s, which records each request's samples too."""

    _series: ClassVar[RequestSeries | None] = None

    def __init__(self, logger: logging.Logger, log_format: str) -> None:
        super().__init__(logger, log_format)
        self._writer = sole_json_writer(logger)
        self._lines = logger.isEnabledFor(logging.INFO)

    @classmethod
    def for_metrics(cls, metrics: Metrics) -> type[JsonAccessLogger]:
        """This logger, recording every request's samples in ``metrics`` as well."""
        return type(cls.__name__, (cls,), {"_series": RequestSeries(metrics)})

    def log(self, request: BaseRequest, response: StreamResponse, time: float) -> None:
        try:
            facts: RequestFacts | None = request[REQUEST_FACTS_KEY]
        except KeyError:
            # aiohttp answered before any middleware ran (a malformed request).
            facts = None
        if self._series is not None:
            route = facts.route if facts is not None else route_of(request)
            self._series.record(request.method, route, response.status, time)
        if not self._lines:
            return
        event = access_event(request, response, time, self.logger.name, facts)
        if self._writer is not None:
            self._writer.submit(render_plain_json_line(event))
            return
        extra = {key: value for key, value in event.items() if key not in _RECORD_FIELDS}
        self.logger.info(event[MESSAGE], extra=extra)

    @property
    def enabled(self) -> bool:
        # Always called: the samples are recorded whatever the log level.
        return True


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
    request: BaseRequest,
    response: StreamResponse,
    seconds: float,
    logger_name: str,
    facts: RequestFacts | None,
) -> dict[str, object]:
    """The access line of a request whose response is done, as the processors of
    ``jarvis.logs.processors`` would build it from a logging call in ``JsonAccessLogger.log``:
    same fields, same order."""
    method, path, status = request.method, request.path, response.status
    # Body bytes when known up front; streamed responses report what they sent.
    size = response.content_length
    if size is None:
        size = response.body_length
    if facts is None:
        request_id, trace = None, None
        route, client = route_of(request), request.remote or "unknown"
    else:
        request_id, trace, route, client = facts.request_id, facts.trace, facts.route, facts.client
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
        ROUTE: route,
        "status": status,
        DURATION_MS: round(seconds * 1000, 3),
        "bytes": size,
        "client": client,
        "user_agent": request.headers.get(hdrs.USER_AGENT, ""),
    }
    if request_id is None:
        del event[REQUEST_ID]
    if trace is not None:
        event[TRACE_ID] = trace.trace_id
        event[SPAN_ID] = trace.span_id
    return event
