"""Log processors: each takes the record and the event built so far and returns the event.

Adding a field to every log line is adding a processor here, not editing a formatter.
Processors run in the caller's thread and context (see ``JsonLogHandler.emit``), which is
what lets them read the request's contextvars.
"""

from __future__ import annotations

import logging
import os
import time
import traceback
from collections.abc import Callable, Mapping
from itertools import islice
from typing import Any

from aiohttp.http_exceptions import HttpProcessingError

from jarvis.logline import (
    ACTION,
    ERROR,
    EXC_MESSAGE,
    EXC_TYPE,
    FUNCTION,
    LEVEL,
    LINE,
    LOGGER,
    MESSAGE,
    MODULE,
    REQUEST_ID,
    SPAN_ID,
    STACK,
    TIMESTAMP,
    TRACE_ID,
    TRACEBACK,
    Action,
)
from jarvis.request_context import get_id_and_trace

Event = dict[str, Any]
Processor = Callable[[logging.LogRecord, Event], Event]

# Attributes every LogRecord has; anything else on a record came from ``extra=``.
_BLANK_RECORD_ATTRS = vars(logging.LogRecord("", 0, "", 0, "", None, None)).keys()
_STANDARD_ATTRS = frozenset(_BLANK_RECORD_ATTRS | {"message", "asctime", "taskName"})
_FIRST_EXTRA_INDEX = len(_BLANK_RECORD_ATTRS)


def add_base_fields(record: logging.LogRecord, event: Event) -> Event:
    event[TIMESTAMP] = record.created
    event[LEVEL] = record.levelname
    event[LOGGER] = record.name
    event[MESSAGE] = record.getMessage()
    return event


def add_request_context(record: logging.LogRecord, event: Event) -> Event:
    # An ID given explicitly on the record wins: access lines name their own request when
    # they go through logging, made at the end of the loop iteration in a context of its own.
    current_id, trace = get_id_and_trace()
    request_id = getattr(record, REQUEST_ID, None) or current_id
    if request_id is not None:
        event[REQUEST_ID] = request_id
    if trace is not None and not hasattr(record, TRACE_ID):
        event[TRACE_ID] = trace.trace_id
        event[SPAN_ID] = trace.span_id
    return event


def add_code_location(record: logging.LogRecord, event: Event) -> Event:
    event[MODULE] = record.module
    event[FUNCTION] = record.funcName
    event[LINE] = record.lineno
    return event


def add_extra_fields(record: logging.LogRecord, event: Event) -> Event:
    # ``extra=`` keys are set after the standard attributes, so only the tail of the record's
    # dict needs a look: this processor runs for every line, on the request's path.
    for key, value in islice(vars(record).items(), _FIRST_EXTRA_INDEX, None):
        if key not in _STANDARD_ATTRS and key[0] != "_":
            event[key] = value
    return event


def add_exception(record: logging.LogRecord, event: Event) -> Event:
    # The traceback stays a field of its own instead of being folded into the message,
    # so the message remains searchable and the traceback readable.
    if record.exc_info and record.exc_info[1] is not None:
        exc_type, exc, tb = record.exc_info
        event[EXC_TYPE] = exc_type.__name__ if exc_type else type(exc).__name__
        event[EXC_MESSAGE] = str(exc)
        event[TRACEBACK] = "".join(traceback.format_exception(exc_type, exc, tb))
    elif record.stack_info:
        event[STACK] = record.stack_info
    return event


def demote_client_protocol_errors(record: logging.LogRecord, event: Event) -> Event:
    # aiohttp logs malformed HTTP from clients as ERROR with a traceback; that is bad input,
    # not a server fault, and must not page anyone or bury real errors.
    exc = record.exc_info[1] if record.exc_info else None
    if record.name == "aiohttp.server" and isinstance(exc, HttpProcessingError):
        event[LEVEL] = "WARNING"
        event[ACTION] = Action.BAD_HTTP_REQUEST
        event[ERROR] = exc.message.splitlines()[0] if exc.message else type(exc).__name__
        for key in (TRACEBACK, EXC_MESSAGE):
            event.pop(key, None)
    return event


DEFAULT_PROCESSORS: tuple[Processor, ...] = (
    add_base_fields,
    add_request_context,
    add_code_location,
    add_extra_fields,
    add_exception,
    demote_client_protocol_errors,
)


def event_of_call(
    level: int,
    logger_name: str,
    message: str,
    code: tuple[str, str, int],
    fields: Mapping[str, Any],
) -> Event:
    """The event ``DEFAULT_PROCESSORS`` build, now, from the record of
    ``logger.log(level, message, extra=fields)`` made at ``code`` (module, function, line),
    without an exception: same fields, same order. Built with no record at all, for lines
    written on every request (``jarvis.logs.handler.DirectLogger``); a processor added above
    for every line must be mirrored here (tests compare the two lines). ``fields`` must not
    name a ``LogRecord`` attribute, as ``extra=`` must not."""
    current_id, trace = get_id_and_trace()
    event: Event = {
        TIMESTAMP: time.time(),
        LEVEL: _LEVEL_NAMES.get(level) or logging.getLevelName(level),
        LOGGER: logger_name,
        MESSAGE: message,
    }
    request_id = fields.get(REQUEST_ID) or current_id
    if request_id is not None:
        event[REQUEST_ID] = request_id
    if trace is not None and TRACE_ID not in fields:
        event[TRACE_ID] = trace.trace_id
        event[SPAN_ID] = trace.span_id
    event[MODULE], event[FUNCTION], event[LINE] = code
    event.update(fields)
    return event


_LEVEL_NAMES = {level: logging.getLevelName(level) for level in range(0, 51, 10)}


def module_of(path: str) -> str:
    """The ``module`` a record made in the file at ``path`` names (``LogRecord.module``)."""
    return os.path.splitext(os.path.basename(path))[0]
