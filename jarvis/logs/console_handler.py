"""A logging handler that renders each record for people (``jarvis.logs.console``) and queues
it on a writer of its own: the server's stdout when ``LOG_FORMAT`` asks for console lines."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from jarvis.logs.console import render_console_line
from jarvis.logs.processors import DEFAULT_PROCESSORS, Event, Processor
from jarvis.logs.writer import LogWriter


class ConsoleLogHandler(logging.Handler):
    """Builds the same event as the JSON handler, in the caller's context (so the request ID
    is read where it is set), and renders it as console text instead of JSON."""

    def __init__(
        self,
        writer: LogWriter,
        *,
        colour: bool,
        processors: Sequence[Processor] = DEFAULT_PROCESSORS,
        level: int = logging.NOTSET,
    ) -> None:
        super().__init__(level)
        self.writer = writer
        self._colour = colour
        self._processors = tuple(processors)

    def emit(self, record: logging.LogRecord) -> None:
        try:
            event: Event = {}
            for process in self._processors:
                event = process(record, event)
            text = render_console_line(event, colour=self._colour) + "\n"
            self.writer.submit(text.encode(errors="replace"))
        except Exception:
            self.handleError(record)
