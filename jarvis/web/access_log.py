"""aiohttp's access log as structured JSON, one line per HTTP request, and the request's
``http_requests_total`` and ``http_request_duration_seconds`` samples: aiohttp calls its access
logger once for every request it answered, with the time from its arrival to its last byte.

Every request writes a line, so the lines of a loop iteration are made together at its end
(``FinishedRequests``), without the ``logging`` machinery when that is possible. A processor
added to ``jarvis.logs.processors`` for every line must be mirrored in ``access_events``.
"""

from __future__ import annotations

import dis
import logging
from asyncio import get_running_loop
from collections.abc import Callable
from contextvars import Context
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
from jarvis.request_context import RequestFacts, current_request
from jarvis.web.access_lines import AccessLineTemplates, Finished, milliseconds
from jarvis.web.request_metrics import RequestSeries
from jarvis.web.responses import route_of

ACCESS_LOGGER = logging.getLogger("jarvis.access")


class JsonAccessLogger(AbstractAccessLogger):
    """aiohttp calls this in the task that ran the request's handler (a task of its own for
    each request, so that each has a context of its own: aiohttp issue 3406), so what the
    steps learnt is the context's (``current_request``).

    aiohttp builds one per connection; the class an app runs is ``writing_to``'s, whose
    connections all hand their finished requests to one ``FinishedRequests``: they are logged
    and counted together once the loop iteration that finished them is done."""

    @classmethod
    def writing_to(cls, finished: FinishedRequests) -> type[JsonAccessLogger]:
        """This logger, handing every finished request to ``finished``: its ``log`` is
        ``finished.add`` itself, one call fewer a request than a method calling it."""
        return type(cls.__name__, (cls,), {"log": finished.add})

    def log(self, request: BaseRequest, response: StreamResponse, time: float) -> None:
        raise TypeError("use JsonAccessLogger.writing_to(finished)")

    @property
    def enabled(self) -> bool:
        # Always called: the samples are recorded whatever the log level.
        return True


class FinishedRequests:
    """Requests whose last byte went out during this loop iteration, kept as a few plain
    values each, then counted and logged together at the iteration's end (``log``).

    Per request that is a tuple on a list; the metric samples, the line's fields and their
    rendering run back to back for the whole batch, where interleaved with serving each
    request they cost about twice as much (17 µs against 8 µs a request, measured under load:
    the code and data no longer in the CPU's caches). When its records reach one JSON log
    writer alone (``jarvis serve``), the lines skip the ``logging`` machinery (a record, a
    handler, six processors: some 20 µs a line): rendered from templates
    (``jarvis.web.access_lines``) as the lines of ``access_events`` (the fields, in the order
    the processors would give them) and queued to that writer in one go; else each goes
    through ``logging`` as any other record (console lines, tests' own handlers)."""

    def __init__(self, series: RequestSeries, logger: logging.Logger = ACCESS_LOGGER) -> None:
        self._series = series
        self._logger = logger
        self._pending: list[Finished] = []
        self._lines = AccessLineTemplates(
            logger.name,
            (_MODULE, _FUNCTION, _LOG_CALL_LINE),
            Action.HTTP_ACCESS,
            lambda request: access_events(logger.name, [request])[0],
        )

    def add(self, request: BaseRequest, response: StreamResponse, seconds: float) -> None:
        facts = current_request.get()
        if facts is None:
            # aiohttp answered before any step ran (a malformed request).
            facts = RequestFacts(None, None, request.remote or "unknown", route_of(request))
        # Body bytes when known up front; streamed responses report what they sent.
        # (Read from the header: ``content_length`` is three properties deep.)
        length = response.headers.get(hdrs.CONTENT_LENGTH)
        size = response.body_length if length is None else int(length)
        pending = self._pending
        if not pending:
            # In a context of its own: no request's ID is current there.
            get_running_loop().call_soon(self.log, context=Context())
        pending.append(
            (
                _now(),
                request.method,
                request.path,
                response.status,
                seconds,
                size,
                request.headers.get(hdrs.USER_AGENT, ""),
                facts,
            )
        )

    async def on_cleanup(self, app: object) -> None:
        """Count and log what the last loop iteration finished (an ``on_cleanup`` hook): the
        loop may stop before it runs the call that would have."""
        self.log()

    def log(self) -> None:
        """Count and log every request finished since the last call."""
        finished, self._pending = self._pending, []
        if not finished:
            return
        self._count(finished)
        logger = self._logger
        if not logger.isEnabledFor(logging.INFO):
            return
        writer = sole_json_writer(logger)
        if writer is not None:
            writer.submit_joined(self._lines.render(finished), len(finished))
            return
        for event in access_events(logger.name, finished):
            extra = {key: value for key, value in event.items() if key not in _RECORD_FIELDS}
            logger.info(event[MESSAGE], extra=extra)

    def _count(self, finished: list[Finished]) -> None:
        """Each request in its series: grouped first, so that each series is updated once
        a batch (a batch of like requests is the usual case under load)."""
        durations_of: dict[tuple[str, str, int], list[float]] = {}
        for _, method, _, status, seconds, _, _, facts in finished:
            key = (method, facts.route, status)
            durations = durations_of.get(key)
            if durations is None:
                durations_of[key] = [seconds]
            else:
                durations.append(seconds)
        record = self._series.record
        for (method, route, status), durations in durations_of.items():
            record(method, route, status, durations)


def _line_calling(function: Callable[..., object], method: str) -> int:
    """The source line where ``function`` calls ``method``: what a LogRecord made there says."""
    for instruction in dis.get_instructions(function):
        if instruction.argval == method and instruction.positions is not None:
            if instruction.positions.lineno is not None:
                return instruction.positions.lineno
    return function.__code__.co_firstlineno


# Lines written straight to the writer name the same code as those going through logging.
_MODULE = "access_log"
_FUNCTION = FinishedRequests.log.__name__
_LOG_CALL_LINE = _line_calling(FinishedRequests.log, "info")
# What a LogRecord says by itself; the rest goes in as ``extra``.
_RECORD_FIELDS = frozenset({TIMESTAMP, LEVEL, LOGGER, MESSAGE, MODULE, FUNCTION, LINE})


def access_events(logger_name: str, finished: list[Finished]) -> list[dict[str, object]]:
    """The access line of each finished request (what ``FinishedRequests.add`` kept of it),
    as the processors of ``jarvis.logs.processors`` would build it from the logging call in
    ``FinishedRequests.log``: same fields, same order."""
    events: list[dict[str, object]] = []
    for finished_at, method, path, status, seconds, size, user_agent, facts in finished:
        request_id, trace = facts.request_id, facts.trace
        event: dict[str, object] = {
            TIMESTAMP: finished_at,
            LEVEL: "INFO",
            LOGGER: logger_name,
            MESSAGE: f"{method} {path} {status}",
            REQUEST_ID: request_id,
            MODULE: _MODULE,
            FUNCTION: _FUNCTION,
            LINE: _LOG_CALL_LINE,
            ACTION: Action.HTTP_ACCESS,
            "method": method,
            "path": path,
            ROUTE: facts.route,
            "status": status,
            DURATION_MS: milliseconds(seconds),
            "bytes": size,
            "client": facts.client,
            "user_agent": user_agent,
        }
        if request_id is None:
            del event[REQUEST_ID]
        if trace is not None:
            event[TRACE_ID] = trace.trace_id
            event[SPAN_ID] = trace.span_id
        events.append(event)
    return events
