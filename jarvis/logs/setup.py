"""Installs logging for the whole process (the app's loggers, aiohttp's, and errors): JSON
lines, or console lines for people on stdout when ``LOG_FORMAT`` asks for them."""

from __future__ import annotations

import logging
import os
from typing import BinaryIO

from jarvis.logs.console import use_console, wants_colour
from jarvis.logs.console_handler import ConsoleLogHandler
from jarvis.logs.handler import JsonLogHandler
from jarvis.logs.writer import LogWriter, stdout_stream
from jarvis.settings import Settings

_LOGGERS_THAT_LEAK_CONTENT = ("aiohttp.client", "elastic_transport")


def configure_logging(settings: Settings) -> LogWriter:
    """Route every log record of the process at ``settings.log_level`` to the log file as JSON
    and to stdout as JSON or, when ``LOG_FORMAT`` says so, as console lines for people.

    Returns the started writer of the log's sink (the file when there is one, else stdout);
    call ``unconfigure_logging`` at shutdown to flush every writer.
    """
    stdout = stdout_stream() if settings.log_stdout else None
    handlers: list[logging.Handler] = []
    if stdout is not None and use_console(settings.log_format, stdout):
        # A writer of its own: the file's lines stay JSON whatever the terminal shows.
        console = ConsoleLogHandler(
            _started_writer(settings, None, stdout), colour=wants_colour(stdout, os.environ)
        )
        handlers.append(console)
        writer = console.writer
        stdout = None
    if settings.log_file or not handlers:
        writer = _started_writer(settings, settings.log_file, stdout)
        handlers.append(JsonLogHandler(writer))
    # No line carries a thread or process: each record (several a request) skips looking
    # them up, 2.5 -> 1.6 µs a record here.
    logging.logThreads = logging.logProcesses = logging.logMultiprocessing = False
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    for handler in handlers:
        root.addHandler(handler)
    root.setLevel(settings.log_level.upper())
    for name in _LOGGERS_THAT_LEAK_CONTENT:
        # Their DEBUG records quote SQL parameters and payloads, i.e. users' chat texts.
        logging.getLogger(name).setLevel(max(logging.INFO, root.level))
    logging.captureWarnings(True)
    return writer


def unconfigure_logging(writer: LogWriter) -> None:
    """Detach the handlers and flush the writers (shutdown, and between tests)."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        if isinstance(handler, JsonLogHandler | ConsoleLogHandler):
            root.removeHandler(handler)
        if isinstance(handler, ConsoleLogHandler):
            handler.writer.stop()
    writer.stop()


def _started_writer(settings: Settings, path: str | None, stdout: BinaryIO | None) -> LogWriter:
    return LogWriter(path=path or None, stdout=stdout, queue_size=settings.log_queue_size).start()
