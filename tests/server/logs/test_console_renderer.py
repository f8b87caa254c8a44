"""The console renderer (``jarvis.logs.console``): one event as a line a person reads."""

from __future__ import annotations

from datetime import datetime

import orjson

from jarvis.logs.console import render_console_line, render_text_line, use_console

# 2026-01-13 08:00:00.123 in local time, whatever the machine's zone.
TIMESTAMP = datetime(2026, 1, 13, 8, 0, 0, 123000).timestamp()
REQUEST_ID = "3f2a9c1e-7b4d-4e8a-9f10-2b3c4d5e6f70"

ERROR_EVENT = {
    "timestamp": TIMESTAMP,
    "level": "ERROR",
    "logger": "jarvis.chat",
    "message": "chat failed",
    "request_id": REQUEST_ID,
    "module": "service",
    "function": "reply",
    "line": 42,
    "action": "chat_error",
    "stage": "llm",
    "user_id": "enzo",
    "duration_ms": 12.3456,
    "error": "model timed out after 60 s",
}


def test_an_error_line_shows_time_level_request_id_message_then_its_fields():
    line = render_console_line(ERROR_EVENT)
    assert line == (
        f"08:00:00.123 ERROR    [{REQUEST_ID}] chat failed  action=chat_error stage=llm"
        ' user_id=enzo duration_ms=12.346 error="model timed out after 60 s"'
    )


def test_no_colour_codes_unless_asked():
    assert "\x1b[" not in render_console_line(ERROR_EVENT)
    coloured = render_console_line(ERROR_EVENT, colour=True)
    assert "\x1b[1;31mERROR" in coloured, "the level in red"
    assert "\x1b[31mchat failed" in coloured, "an error's message in red"


def test_a_line_that_is_not_json_passes_through_as_it_is():
    java = "[2026-01-13T08:00:00,123][INFO ][o.e.n.Node] started {jarvis-dev}"
    assert render_text_line(java.encode() + b"\n") == java
    assert render_text_line(java, colour=True) == java
    assert render_text_line(b"[1, 2]") == "[1, 2]", "JSON, but not an object: not an event"


def test_a_json_line_is_rendered():
    raw = orjson.dumps(ERROR_EVENT) + b"\n"
    assert render_text_line(raw) == render_console_line(ERROR_EVENT)


def test_the_traceback_follows_on_indented_lines():
    event = {
        **ERROR_EVENT,
        "exc_type": "ValueError",
        "traceback": (
            'Traceback (most recent call last):\n  File "x.py", line 1\nValueError: boom\n'
        ),
    }
    first, *details = render_console_line(event).split("\n")
    assert first.endswith("exc_type=ValueError")
    assert details == [
        "    Traceback (most recent call last):",
        '      File "x.py", line 1',
        "    ValueError: boom",
    ]


def test_control_characters_from_outside_cannot_drive_the_terminal_nor_forge_a_line():
    event = {"level": "INFO", "message": "GET /\x1b[2J\nforged", "user_agent": "evil\x1b]0;x\x07"}
    line = render_console_line(event)
    assert "\x1b" not in line and "\n" not in line and "\x07" not in line
    assert "GET /\\x1b[2J\\x0aforged" in line


def test_the_action_stands_in_for_a_missing_message_and_nulls_are_left_out():
    line = render_console_line({"level": "INFO", "action": "startup", "error": None, "port": 8000})
    assert line == "INFO     startup  port=8000"


def test_bookkeeping_fields_are_not_shown():
    line = render_console_line(ERROR_EVENT)
    for hidden in ("logger=", "module=", "function=", "line=", "timestamp="):
        assert hidden not in line


def test_small_and_large_numbers_stay_readable():
    line = render_console_line({"llm_seconds": 0.0000523, "bytes": 81, "ok": True})
    assert line == "llm_seconds=5.2e-05 bytes=81 ok=true"


class _Stream:
    def __init__(self, tty: bool) -> None:
        self.tty = tty

    def isatty(self) -> bool:
        return self.tty


def test_auto_means_console_on_a_terminal_only():
    assert use_console("auto", _Stream(tty=True))
    assert not use_console("auto", _Stream(tty=False))
    assert use_console("console", _Stream(tty=False))
    assert use_console("CONSOLE", _Stream(tty=False))
    assert not use_console("json", _Stream(tty=True))
