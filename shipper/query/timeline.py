"""Events rendered as a readable timeline: time, gap, level, logger, message, useful fields.

Log fields carry text that came from outside (user agents, error messages): control
characters are shown escaped, so a log line can never drive the terminal.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
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
from jarvis.logs.console import Painter, safe_text
from shipper.event_time import iso_time
from shipper.query.sources import LogEntry

# Bookkeeping added by the shipper, never shown: a trace does not even ask for them.
NOT_SHOWN = ("tags", "log", "host")
# Fields every line has, shown in their own columns, or not shown at all.
_SHOWN_ELSEWHERE = frozenset(
    {
        *NOT_SHOWN,
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
        TRACEBACK,
        EXC_TYPE,
        EXC_MESSAGE,
    }
)

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
# Names beyond those shown are counted up to this many, so that memory stays bounded.
MAX_COUNTED_NAMES = 10_000


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
    """``2026-01-13T08:00:00.123Z`` (as the documents' ``@timestamp``), or a placeholder as
    wide when the time is unknown."""
    return "?".ljust(24) if epoch is None else iso_time(epoch)


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


class Timeline:
    """Renders events as they come, a batch at a time: each gap is measured from the event
    before, even across batches."""

    def __init__(self, *, colour: bool, show_request_id: bool = False) -> None:
        self._paint = Painter(colour)
        self._show_request_id = show_request_id
        self._previous: float | None = None

    def lines(self, events: Iterable[LogEntry]) -> Iterator[str]:
        """One line per event (plus the traceback of errors), in the order given."""
        for event in events:
            now = event_time(event)
            yield _event_line(event, now, self._previous, self._paint, self._show_request_id)
            yield from _error_details(event, self._paint)
            if now is not None:
                self._previous = now


def render_timeline(
    events: Sequence[LogEntry], *, colour: bool, show_request_id: bool = False
) -> Iterator[str]:
    """One line per event (plus the traceback of errors), in the order given."""
    return Timeline(colour=colour, show_request_id=show_request_id).lines(events)


class Summary:
    """What a trace amounts to (how many events, over how long, how many errors, which
    users and traces), counted as the events go by: nothing is kept but the figures and a few
    names."""

    def __init__(self) -> None:
        self.events = 0
        self.errors = 0
        self.first: float | None = None
        self.last: float | None = None
        self.users = _Distinct()
        self.traces = _Distinct()

    def add(self, events: Iterable[LogEntry]) -> None:
        for event in events:
            self.events += 1
            if event.get(LEVEL) in ERROR_LEVELS:
                self.errors += 1
            moment = event_time(event)
            if moment is not None:
                self.first = moment if self.first is None else min(self.first, moment)
                self.last = moment if self.last is None else max(self.last, moment)
            self.users.add(event.get(USER_ID))
            self.traces.add(event.get(TRACE_ID))

    def lines(self, *, colour: bool, title: str) -> Iterator[str]:
        """The summary line, after an empty line that sets it apart from the timeline."""
        paint = Painter(colour)
        parts = [f"{self.events} event{'s' if self.events != 1 else ''}"]
        if self.first is not None and self.last is not None:
            parts.append(f"{format_instant(self.first)} → {format_instant(self.last)}")
            parts.append(format_gap(self.last - self.first).lstrip("+"))
        error_text = f"{self.errors} error{'s' if self.errors != 1 else ''}"
        parts.append(paint(error_text, _ERROR_STYLE) if self.errors else error_text)
        if self.users.names:
            parts.append("user " + self.users.text())
        if self.traces.names:
            parts.append("trace " + self.traces.text())
        yield ""
        yield paint(safe_text(title), _BOLD) + "  " + "  ·  ".join(parts)


class _Distinct:
    """The distinct strings seen, in the order first seen: the first ``SHOWN`` of them, and how
    many more."""

    SHOWN = 10

    def __init__(self) -> None:
        self.names: dict[str, None] = {}
        self._more: set[str] = set()

    def add(self, value: object) -> None:
        if not isinstance(value, str) or value in self.names:
            return
        if len(self.names) < self.SHOWN:
            self.names[value] = None
        elif len(self._more) < MAX_COUNTED_NAMES:
            self._more.add(value)

    def text(self) -> str:
        shown = ", ".join(safe_text(name) for name in self.names)
        if not self._more:
            return shown
        more = f"{len(self._more)}{'+' if len(self._more) == MAX_COUNTED_NAMES else ''}"
        return f"{shown} and {more} more"


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
