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

    @property
    def renders_by_default(self) -> bool:
        """True when this handler runs the default processors, so a line built as they would
        build it is the line it would write."""
        return self._processors == DEFAULT_PROCESSORS

    @property
    def writer(self) -> LogWriter:
        return self._writer


def sole_json_writer(logger: logging.Logger, level: int = logging.INFO) -> LogWriter | None:
    """The writer of the one ``JsonLogHandler`` (with the default processors) that every
    ``level`` record of ``logger`` reaches, through no filter; None when its records go
    anywhere else as well (a console handler, a test's handler) or nowhere. Code writing a
    line per request may then build the line itself and submit it to that writer directly,
    skipping the record machinery, and still write exactly what logging would have."""
    reached: list[logging.Handler] = []
    current: logging.Logger | None = logger
    while current is not None:
        if current.filters:
            return None
        reached.extend(handler for handler in current.handlers if level >= handler.level)
        if not current.propagate:
            break
        current = current.parent
    if len(reached) != 1:
        return None
    handler = reached[0]
    if not isinstance(handler, JsonLogHandler) or handler.filters or not handler.renders_by_default:
        return None
    return handler.writer
