"""A logging handler that renders each record to one JSON line in the caller and queues it."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from jarvis.logs.processors import DEFAULT_PROCESSORS, Event, Processor
from jarvis.logs.render import render_json_line
from jarvis.logs.writer import LogWriter


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
