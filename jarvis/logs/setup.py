"""Installs JSON logging for the whole process: the app's loggers, aiohttp's, and errors."""

from __future__ import annotations

import logging

from jarvis.logs.handler import JsonLogHandler
from jarvis.logs.writer import LogWriter, stdout_stream
from jarvis.settings import Settings

_LOGGERS_THAT_LEAK_CONTENT = ("aiosqlite", "aiohttp.client", "elastic_transport")


def configure_logging(settings: Settings) -> LogWriter:
    """Route every log record of the process to one JSON writer at ``settings.log_level``.

    Returns the started writer; call ``writer.stop()`` at shutdown to flush it.
    """
    writer = LogWriter(
        path=settings.log_file or None,
        stdout=stdout_stream() if settings.log_stdout else None,
        queue_size=settings.log_queue_size,
    ).start()
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    root.addHandler(JsonLogHandler(writer))
    root.setLevel(settings.log_level.upper())
    for name in _LOGGERS_THAT_LEAK_CONTENT:
        # Their DEBUG records quote SQL parameters and payloads, i.e. users' chat texts.
        logging.getLogger(name).setLevel(max(logging.INFO, root.level))
    logging.captureWarnings(True)
    return writer


def unconfigure_logging(writer: LogWriter) -> None:
    """Detach the JSON handler and flush the writer (shutdown, and between tests)."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        if isinstance(handler, JsonLogHandler):
            root.removeHandler(handler)
    writer.stop()
