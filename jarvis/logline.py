"""The log-line contract: what every JSON line the server writes looks like.

The server writes these lines; the shipper indexes them and ``jarvis-logs`` reads them back.
All three import their field names, actions, levels and the request-ID rule from here, so a
name changed here changes everywhere (the shipper may import this module; the server never
imports the shipper).
"""

from __future__ import annotations

import re
from typing import Any, Final

import orjson

# Fields every line has.
TIMESTAMP: Final = "timestamp"  # epoch seconds, float
LEVEL: Final = "level"
LOGGER: Final = "logger"
MESSAGE: Final = "message"
MODULE: Final = "module"
FUNCTION: Final = "function"
LINE: Final = "line"

# Fields of a request's lines.
REQUEST_ID: Final = "request_id"
TRACE_ID: Final = "trace_id"
SPAN_ID: Final = "span_id"
ACTION: Final = "action"
USER_ID: Final = "user_id"
TRANSPORT: Final = "transport"
STAGE: Final = "stage"
ERROR: Final = "error"
ROUTE: Final = "route"
DURATION_MS: Final = "duration_ms"
LLM_SECONDS: Final = "llm_seconds"

# Fields of an error's line.
EXC_TYPE: Final = "exc_type"
EXC_MESSAGE: Final = "exc_message"
TRACEBACK: Final = "traceback"
STACK: Final = "stack"

LEVELS: Final = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
ERROR_LEVELS: Final = frozenset({"ERROR", "CRITICAL"})


class Action:
    """The ``action`` values: what a line reports, as searched for in Elasticsearch."""

    HTTP_ACCESS: Final = "http_access"
    CHAT_REQUEST: Final = "chat_request"
    CHAT_SUCCESS: Final = "chat_success"
    CHAT_ERROR: Final = "chat_error"
    RATE_LIMITED: Final = "rate_limited"
    RATE_LIMIT_FAILED_OPEN: Final = "rate_limit_failed_open"
    REQUEST_ID_REJECTED: Final = "request_id_rejected"
    UNHANDLED_ERROR: Final = "unhandled_error"
    BAD_HTTP_REQUEST: Final = "bad_http_request"
    WS_CONNECT: Final = "ws_connect"
    WS_MESSAGE: Final = "ws_message"
    WS_ERROR: Final = "ws_error"
    WS_CLOSE: Final = "ws_close"
    HEALTH_CHANGE: Final = "health_change"
    STARTUP: Final = "startup"
    LISTEN: Final = "listen"
    LISTEN_FAILED: Final = "listen_failed"
    SHUTDOWN: Final = "shutdown"
    CRASH: Final = "crash"


# Letters, digits and a few separators only: such an ID cannot forge a log line, inject
# markup, change a query or drive a terminal, whatever a client sends. JSON never escapes
# these characters, so the raw bytes of an ID appear as they are in every line carrying it.
REQUEST_ID_PATTERN: Final = re.compile(r"[A-Za-z0-9._:\-]{1,128}")
REQUEST_ID_RULE: Final = "1-128 characters from A-Z a-z 0-9 . _ : -"


def is_valid_request_id(value: str | None) -> bool:
    """True when ``value`` may be used as a request ID as it is."""
    return value is not None and REQUEST_ID_PATTERN.fullmatch(value) is not None


def decode_line(line: bytes | str) -> dict[str, Any] | None:
    """The JSON object a log line holds, or None when it holds something else.

    Never raises: malformed JSON, a non-object, or input nested beyond the decoder's limit
    all give None, so one hostile line cannot stop a reader.
    """
    try:
        # orjson >= 3.11 (our floor) refuses nesting past 1024 levels with a JSONDecodeError.
        value = orjson.loads(line)
    except orjson.JSONDecodeError:
        return None
    return value if isinstance(value, dict) else None
