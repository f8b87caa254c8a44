"""A logging handler that renders each record to one JSON line in the caller and queues it."""

from __future__ import annotations

import logging
from collections.abc import Sequence

import orjson

from jarvis.logs.processors import DEFAULT_PROCESSORS, Event, Processor
from jarvis.logs.writer import LogWriter

_ORJSON_OPTIONS = orjson.OPT_NON_STR_KEYS | orjson.OPT_APPEND_NEWLINE


def render_json_line(event: Event) -> bytes:
    """One JSON object terminated by a newline; orjson escapes any newline inside values,
    so a value can never start a forged line."""
    try:
        return orjson.dumps(event, default=str, option=_ORJSON_OPTIONS)
    except (TypeError, orjson.JSONEncodeError):
        # e.g. integers beyond 64 bits: keep the event, as text.
        return orjson.dumps({k: str(v) for k, v in event.items()}, option=_ORJSON_OPTIONS)


class JsonLogHandler(logging.Handler):
    """Unlike ``QueueHandler.prepare()``, which formats in the caller and folds the traceback
    into the message, this builds the whole event in the caller's context (so contextvars such
    as the request ID are read where they are set) and keeps the traceback as its own field."""

    def __init__(
        self,
        writer: LogWriter,
        processors: Sequence[Processor] = DEFAULT_PROCESSORS,
        level: int = logging.NOTSET,
    ) -> None:
        super().__init__(level)
        self._writer = writer
        self._processors = tuple(processors)

    def emit(self, record: logging.LogRecord) -> None:
        try:
            event: Event = {}
            for process in self._processors:
                event = process(record, event)
            self._writer.submit(render_json_line(event))
        except Exception:
            self.handleError(record)
