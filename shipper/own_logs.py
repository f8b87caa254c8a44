"""The shipper's own logs: one JSON line per record on stderr, never into the shipped file.

The lines are built by the server's log processors and rendered by its renderer, so both
programs write the same fields the same way (the shipper has no request context to add).
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Sequence

from jarvis.logs.processors import Processor, add_base_fields, add_exception, add_extra_fields
from jarvis.logs.render import render_json_line

PROCESSORS: tuple[Processor, ...] = (add_base_fields, add_extra_fields, add_exception)


class JsonLineFormatter(logging.Formatter):
    """Formats a record as its JSON line, newline included."""

    def __init__(self, processors: Sequence[Processor] = PROCESSORS) -> None:
        super().__init__()
        self._processors = tuple(processors)

    def format(self, record: logging.LogRecord) -> str:
        event: dict[str, object] = {}
        for process in self._processors:
            event = process(record, event)
        return render_json_line(event).decode()


def configure_logging(level: str) -> None:
    """Send every ``shipper.*`` log record to stderr as JSON at ``level`` and above."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonLineFormatter())
    # The rendered line ends with its own newline.
    handler.terminator = ""
    logger = logging.getLogger("shipper")
    logger.handlers[:] = [handler]
    logger.setLevel(level.upper())
    logger.propagate = False
