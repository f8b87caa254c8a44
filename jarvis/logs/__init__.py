"""Structured JSON logging: records → processors → orjson line → background writer → stdout/file."""

from jarvis.logs.handler import JsonLogHandler
from jarvis.logs.setup import configure_logging
from jarvis.logs.writer import LogWriter

__all__ = ["JsonLogHandler", "LogWriter", "configure_logging"]
