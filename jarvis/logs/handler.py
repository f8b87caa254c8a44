"""A logging handler that renders each record to one JSON line in the caller and queues it."""

from __future__ import annotations

import logging
import sys
from collections.abc import Mapping, Sequence
from types import CodeType
from typing import Any, Final

from jarvis.logs.direct_lines import DirectLineTemplates
from jarvis.logs.processors import DEFAULT_PROCESSORS, Event, Processor, module_of
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
        # Plain attributes, not properties: ``sole_json_writer`` reads both for every line a
        # ``DirectLogger`` writes.
        self.writer: Final = writer
        self._processors = tuple(processors)
        # True when this handler runs the default processors, so a line built as they would
        # build it is the line it would write.
        self.renders_by_default: Final = self._processors == DEFAULT_PROCESSORS

    def emit(self, record: logging.LogRecord) -> None:
        try:
            event: Event = {}
            for process in self._processors:
                event = process(record, event)
            self.writer.submit(render_json_line(event))
        except Exception:
            self.handleError(record)


def sole_json_writer(logger: logging.Logger, level: int = logging.INFO) -> LogWriter | None:
    """The writer of the one ``JsonLogHandler`` (with the default processors) that every
    ``level`` record of ``logger`` reaches, through no filter; None when its records go
    anywhere else as well (a console handler, a test's handler) or nowhere. Code writing a
    line per request may then build the line itself and submit it to that writer directly,
    skipping the record machinery, and still write exactly what logging would have."""
    # Walked for every line a ``DirectLogger`` writes: plain loops, no generator.
    reached: logging.Handler | None = None
    current: logging.Logger | None = logger
    while current is not None:
        if current.filters:
            return None
        for handler in current.handlers:
            if level >= handler.level:
                if reached is not None:
                    return None
                reached = handler
        if not current.propagate:
            break
        current = current.parent
    if not isinstance(reached, JsonLogHandler) or reached.filters or not reached.renders_by_default:
        return None
    return reached.writer


_MAX_CALL_SITES = 4096


class DirectLogger:
    """``logging.getLogger(name)`` for lines written on every chat: ``info(message, fields)``
    logs as ``logger.info(message, extra=fields)`` would, and writes the same line. When the
    logger's records reach one JSON log writer alone (``sole_json_writer``: ``jarvis serve``),
    the line is built from the call itself and queued to that writer, skipping the record, the
    handler and the processors (some 15 µs a line); otherwise (a console, a test's handler)
    it goes through ``logging`` as any other record."""

    def __init__(self, name: str) -> None:
        self.logger = logging.getLogger(name)
        # What a record would say of each call site: its module, function and line.
        # ``LogRecord`` works them out for every record, and a frame's line number alone costs
        # a walk of its function's line table (0.6 µs in a 70-line function). Found by the
        # code object's ``id`` and the instruction, as hashing a code object walks its
        # bytecode and constants (0.3 µs for a 70-line function); each entry holds its code
        # object, so no other can take that ``id`` while it is kept.
        self._call_sites: dict[tuple[int, int], tuple[CodeType, tuple[str, str, int]]] = {}
        self._lines = DirectLineTemplates(name)

    def debug(self, message: str, fields: Mapping[str, Any]) -> None:
        self._log(logging.DEBUG, message, fields)

    def info(self, message: str, fields: Mapping[str, Any]) -> None:
        self._log(logging.INFO, message, fields)

    def warning(self, message: str, fields: Mapping[str, Any]) -> None:
        self._log(logging.WARNING, message, fields)

    def error(self, message: str, fields: Mapping[str, Any]) -> None:
        self._log(logging.ERROR, message, fields)

    def log(self, level: int, message: str, fields: Mapping[str, Any]) -> None:
        self._log(level, message, fields)

    def _log(self, level: int, message: str, fields: Mapping[str, Any]) -> None:
        logger = self.logger
        if not logger.isEnabledFor(level):  # False too when the logger is disabled
            return
        writer = sole_json_writer(logger, level)
        if writer is None:
            # The record names the code that called the public method, two frames up.
            logger.log(level, message, extra=dict(fields), stacklevel=3)
            return
        caller = sys._getframe(2)
        code_object = caller.f_code
        site = (id(code_object), caller.f_lasti)
        known = self._call_sites.get(site)
        if known is not None and known[0] is code_object:
            code = known[1]
        else:
            if len(self._call_sites) >= _MAX_CALL_SITES:
                self._call_sites.clear()  # code made at run time, over and over
            code = (module_of(code_object.co_filename), code_object.co_name, caller.f_lineno)
            self._call_sites[site] = (code_object, code)
        writer.submit(self._lines.render(level, message, code, fields))
