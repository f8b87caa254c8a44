"""Log events rendered for people on a terminal, where JSON lines are hard to read.

``render_console_line`` turns one event (the dict a JSON log line holds) into one line of text:
time, level, request ID, message, then the other fields as ``key=value``; an error's traceback
follows on indented lines. It is a pure function: colour codes only when asked, no clock, no
I/O. The server uses it for its stdout (``LOG_FORMAT=console``, or ``auto`` on a terminal), and
``jarvis dev`` for the JSON lines of the processes it runs.

Field values come from outside (user agents, error messages): control characters are shown
escaped, so a log line can never drive the terminal nor forge a second line.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any, Protocol

import orjson

from jarvis.logline import (
    ACTION,
    ERROR_LEVELS,
    FUNCTION,
    LEVEL,
    LEVELS,
    LINE,
    LOGGER,
    MESSAGE,
    MODULE,
    REQUEST_ID,
    STACK,
    TIMESTAMP,
    TRACEBACK,
    decode_line,
)

# The values of LOG_FORMAT: ``auto`` is ``console`` on a terminal and ``json`` elsewhere.
JSON, CONSOLE, AUTO = "json", "console", "auto"
LOG_FORMATS = (JSON, CONSOLE, AUTO)
LOG_FORMAT_RULE = "LOG_FORMAT must be 'json', 'console' or 'auto'"

# Shown in their own columns, or bookkeeping that tells a person nothing on a terminal.
_NOT_AS_PAIRS = frozenset(
    {TIMESTAMP, LEVEL, MESSAGE, REQUEST_ID, LOGGER, MODULE, FUNCTION, LINE, TRACEBACK, STACK}
)
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_NEEDS_QUOTES = re.compile(r"[\s\"=]")
_DETAIL_INDENT = "    "

_RESET = "\x1b[0m"
_DIM = "\x1b[2m"
_RED = "\x1b[31m"
_CYAN = "\x1b[36m"
# One style per level, least severe first (DEBUG dim ... CRITICAL white on red).
_LEVEL_STYLE = dict(
    zip(LEVELS, (_DIM, "\x1b[32m", "\x1b[33m", "\x1b[1;31m", "\x1b[1;97;41m"), strict=True)
)
_LEVEL_WIDTH = max(len(level) for level in LEVELS)


class _Terminal(Protocol):
    def isatty(self) -> bool: ...


def use_console(log_format: str, stream: _Terminal) -> bool:
    """Whether lines bound for ``stream`` are rendered for people: ``console`` always, ``auto``
    when ``stream`` is a terminal, ``json`` never."""
    log_format = log_format.lower()
    return log_format == CONSOLE or (log_format == AUTO and stream.isatty())


def wants_colour(stream: _Terminal, environ: Mapping[str, str]) -> bool:
    """Colour on a terminal, unless ``NO_COLOR`` is set or the terminal is dumb."""
    if environ.get("NO_COLOR") or environ.get("TERM") == "dumb":
        return False
    return stream.isatty()


class Painter:
    """Wraps text in ANSI styles, or leaves it plain when colour is off."""

    def __init__(self, colour: bool) -> None:
        self.colour = colour

    def __call__(self, text: str, style: str) -> str:
        return f"{style}{text}{_RESET}" if self.colour and style else text


def safe_text(value: str) -> str:
    """``value`` with control characters (newlines, escapes) shown as ``\\xNN`` escapes."""
    if value.isprintable():
        return value  # no control character in it: the common case, checked in C
    return _CONTROL.sub(lambda match: f"\\x{ord(match.group()):02x}", value)


def format_value(value: Any) -> str:
    """A field value as typed in a shell: bare when simple, JSON-quoted when it has spaces."""
    if isinstance(value, str):
        text = value if value and not _NEEDS_QUOTES.search(value) else orjson.dumps(value).decode()
    elif isinstance(value, float):
        # Three decimals read well for milliseconds; tiny values keep two significant digits.
        small = value != 0 and abs(value) < 0.01
        text = f"{value:.2g}" if small else f"{value:.3f}".rstrip("0").rstrip(".")
    elif isinstance(value, bool | int) or value is None:
        text = orjson.dumps(value).decode()
    else:
        text = orjson.dumps(value, default=str).decode()
    return safe_text(text)


def format_clock(timestamp: Any) -> str | None:
    """``14:03:07.123`` (local time) for an epoch timestamp; text as it is; None when absent."""
    if isinstance(timestamp, int | float) and not isinstance(timestamp, bool):
        try:
            moment = datetime.fromtimestamp(timestamp)
        except (OverflowError, OSError, ValueError):
            return safe_text(str(timestamp))
        return moment.strftime("%H:%M:%S.") + f"{moment.microsecond // 1000:03d}"
    if isinstance(timestamp, str):
        return safe_text(timestamp)
    return None


def render_console_line(event: Mapping[str, Any], *, colour: bool = False) -> str:
    """One event as text for people: ``time LEVEL [request-id] message key=value ...``.

    The message is the event's ``message`` (its ``action`` stands in when it has none); every
    field not shown in a column follows as ``key=value`` in the event's order (``null`` ones
    left out). An error's traceback (or a stack) follows on indented lines, so the result
    holds a newline only then. ANSI colour codes only when ``colour``; control characters in
    any value are escaped.
    """
    paint = Painter(colour)
    level = str(event.get(LEVEL, ""))
    is_error = level in ERROR_LEVELS
    columns: list[str] = []
    clock = format_clock(event.get(TIMESTAMP))
    if clock is not None:
        columns.append(paint(clock, _DIM))
    if level:
        columns.append(paint(safe_text(level).ljust(_LEVEL_WIDTH), _LEVEL_STYLE.get(level, "")))
    request_id = event.get(REQUEST_ID)
    if request_id is not None:
        columns.append(paint(f"[{safe_text(str(request_id))}]", _CYAN))
    message = event.get(MESSAGE) or event.get(ACTION) or ""
    message_text = safe_text(str(message))
    columns.append(paint(message_text, _RED) if is_error else message_text)
    pairs = [
        paint(f"{safe_text(str(key))}=", _DIM) + format_value(value)
        for key, value in event.items()
        if key not in _NOT_AS_PAIRS
        and value is not None
        and not (key == ACTION and not event.get(MESSAGE))
    ]
    head = " ".join(column for column in columns if column)
    line = "  ".join(part for part in (head, " ".join(pairs)) if part)
    details = event.get(TRACEBACK) or event.get(STACK)
    if isinstance(details, str) and details.strip():
        line += "".join(
            "\n" + _DETAIL_INDENT + paint(safe_text(text), _RED if is_error else _DIM)
            for text in details.rstrip("\n").splitlines()
        )
    return line


def render_text_line(line: bytes | str, *, colour: bool = False) -> str:
    """A log line as a person reads it: a JSON object rendered by ``render_console_line``,
    anything else (a Java log line, plain text) as it is, without its line ending."""
    event = decode_line(line)
    if event is not None:
        return render_console_line(event, colour=colour)
    text = line.decode(errors="replace") if isinstance(line, bytes) else line
    return text.rstrip("\r\n")
