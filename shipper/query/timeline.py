"""Events rendered as a readable timeline: time, gap, level, logger, message, useful fields.

Log fields carry text that came from outside (user agents, error messages): control
characters are shown escaped, so a log line can never drive the terminal.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, datetime
from typing import Any

import orjson

from jarvis.logline import (
    ACTION,
    ERROR_LEVELS,
    EXC_MESSAGE,
    EXC_TYPE,
    FUNCTION,
    LEVEL,
    LEVELS,
    LINE,
    LOGGER,
    MESSAGE,
    MODULE,
    REQUEST_ID,
    TIMESTAMP,
    TRACE_ID,
    TRACEBACK,
    USER_ID,
)
from shipper.query.sources import LogEntry

# Fields every line has, shown in their own columns, or bookkeeping added by the shipper.
_SHOWN_ELSEWHERE = frozenset(
    {
        TIMESTAMP,
        "@timestamp",
        LEVEL,
        LOGGER,
        MESSAGE,
        MODULE,
        FUNCTION,
        LINE,
        REQUEST_ID,
        ACTION,
        "tags",
        "log",
        "host",
        TRACEBACK,
        EXC_TYPE,
        EXC_MESSAGE,
    }
)
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")

_RESET = "\x1b[0m"
_DIM = "\x1b[2m"
_CYAN = "\x1b[36m"
_BOLD = "\x1b[1m"
_YELLOW = "\x1b[33m"
_RED = "\x1b[31m"
_ERROR_STYLE = "\x1b[1;31m"
# One style per level, least severe first (DEBUG dim ... CRITICAL white on red).
_LEVEL_STYLE = dict(
    zip(LEVELS, (_DIM, "\x1b[32m", _YELLOW, _ERROR_STYLE, "\x1b[1;97;41m"), strict=True)
)
# A pause this long inside one request deserves the reader's eye.
_SLOW_GAP_SECONDS = 1.0


class Painter:
    """Wraps text in ANSI styles, or leaves it plain when colour is off."""

    def __init__(self, colour: bool) -> None:
        self.colour = colour

    def __call__(self, text: str, style: str) -> str:
        return f"{style}{text}{_RESET}" if self.colour and style else text


def safe_text(value: str) -> str:
    """``value`` with control characters (newlines, escapes) shown as ``\\xNN`` escapes."""
    return _CONTROL.sub(lambda match: f"\\x{ord(match.group()):02x}", value)


def event_time(event: LogEntry) -> float | None:
    """The event's own time in epoch seconds, from ``timestamp`` or else ``@timestamp``."""
    timestamp = event.get(TIMESTAMP)
    if isinstance(timestamp, int | float):
        return float(timestamp)
    iso = event.get("@timestamp")
    if isinstance(iso, str):
        try:
            return datetime.fromisoformat(iso).timestamp()
        except ValueError:
            return None
    return None


def format_instant(epoch: float | None) -> str:
    """``2026-01-13T08:00:00.123Z``, or a placeholder as wide when the time is unknown."""
    if epoch is None:
        return "?".ljust(24)
    moment = datetime.fromtimestamp(epoch, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def format_gap(seconds: float) -> str:
    """A short human duration: ``+850µs``, ``+12.3ms``, ``+1.204s``, ``+2m03s``."""
    micros = round(seconds * 1_000_000)
    if micros < 1000:
        return f"+{micros}µs"
    if micros < 1_000_000:
        return f"+{micros / 1000:.1f}ms"
    if micros < 60_000_000:
        return f"+{micros / 1_000_000:.3f}s"
    minutes, rest = divmod(round(seconds), 60)
    return f"+{minutes}m{rest:02d}s"


def format_value(value: Any) -> str:
    """A field value as typed in a shell: bare when simple, JSON-quoted when it has spaces."""
    if isinstance(value, str):
        text = value if value and not re.search(r"[\s\"=]", value) else orjson.dumps(value).decode()
    elif isinstance(value, float):
        text = f"{value:.3f}".rstrip("0").rstrip(".")
    elif isinstance(value, bool | int) or value is None:
        text = orjson.dumps(value).decode()
    else:
        text = orjson.dumps(value, default=str).decode()
    return safe_text(text)


def render_timeline(
    events: Sequence[LogEntry], *, colour: bool, show_request_id: bool = False
) -> Iterator[str]:
    """One line per event (plus the traceback of errors), in the order given."""
    paint = Painter(colour)
    previous: float | None = None
    for event in events:
        now = event_time(event)
        yield _event_line(event, now, previous, paint, show_request_id)
        yield from _error_details(event, paint)
        if now is not None:
            previous = now


def render_summary(events: Sequence[LogEntry], *, colour: bool, title: str) -> Iterator[str]:
    """A heading for a trace: how many events, over how long, how many errors, which users."""
    paint = Painter(colour)
    times = [time for time in (event_time(event) for event in events) if time is not None]
    errors = sum(1 for event in events if event.get(LEVEL) in ERROR_LEVELS)
    span = max(times) - min(times) if times else 0.0
    parts = [f"{len(events)} event{'s' if len(events) != 1 else ''}"]
    if times:
        parts.append(f"{format_instant(min(times))} → {format_instant(max(times))}")
        parts.append(format_gap(span).lstrip("+"))
    error_text = f"{errors} error{'s' if errors != 1 else ''}"
    parts.append(paint(error_text, _ERROR_STYLE) if errors else error_text)
    users = _distinct(events, USER_ID)
    if users:
        parts.append("user " + ", ".join(users))
    traces = _distinct(events, TRACE_ID)
    if traces:
        parts.append("trace " + ", ".join(traces))
    yield paint(safe_text(title), _BOLD) + "  " + "  ·  ".join(parts)
    yield ""


def _distinct(events: Iterable[LogEntry], field: str) -> list[str]:
    seen: dict[str, None] = {}
    for event in events:
        value = event.get(field)
        if isinstance(value, str):
            seen.setdefault(safe_text(value), None)
    return list(seen)


def _event_line(
    event: LogEntry,
    now: float | None,
    previous: float | None,
    paint: Painter,
    show_request_id: bool,
) -> str:
    level = str(event.get(LEVEL, "?"))
    is_error = level in ERROR_LEVELS
    if now is None or previous is None:
        gap = "".rjust(9)
    else:
        seconds = max(now - previous, 0.0)
        gap = paint(format_gap(seconds).rjust(9), _YELLOW if seconds >= _SLOW_GAP_SECONDS else "")
    columns = [
        paint(format_instant(now), _DIM),
        gap,
        paint(safe_text(level).ljust(8), _LEVEL_STYLE.get(level, "")),
        paint(safe_text(str(event.get(LOGGER, "?"))), _CYAN),
    ]
    if show_request_id and isinstance(event.get(REQUEST_ID), str):
        columns.append(paint(f"[{safe_text(event[REQUEST_ID])}]", _DIM))
    action = event.get(ACTION)
    if isinstance(action, str):
        columns.append(paint(safe_text(action), _BOLD))
    message = safe_text(str(event.get(MESSAGE, "")))
    columns.append(paint(message, _RED) if is_error else message)
    extras = [
        paint(f"{safe_text(key)}=", _DIM) + format_value(value)
        for key, value in event.items()
        if key not in _SHOWN_ELSEWHERE
    ]
    line = "  ".join(columns)
    if extras:
        line += "  " + " ".join(extras)
    marker = paint("!", _ERROR_STYLE) if is_error else " "
    return f"{marker} {line}"


def _error_details(event: LogEntry, paint: Painter) -> Iterator[str]:
    exc_type = event.get(EXC_TYPE)
    if isinstance(exc_type, str):
        detail = safe_text(exc_type)
        if isinstance(event.get(EXC_MESSAGE), str):
            detail += ": " + safe_text(event[EXC_MESSAGE])
        yield "    " + paint(detail, _ERROR_STYLE)
    traceback = event.get(TRACEBACK)
    if isinstance(traceback, str):
        for line in traceback.rstrip("\n").splitlines():
            yield "    " + paint("│ ", _RED) + safe_text(line)
