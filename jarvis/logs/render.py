"""One log event rendered as one JSON line: the renderer of the server and the shipper alike."""

from __future__ import annotations

from typing import Any

import orjson

_OPTIONS = orjson.OPT_NON_STR_KEYS | orjson.OPT_APPEND_NEWLINE
_PLAIN = orjson.OPT_APPEND_NEWLINE


def render_json_line(event: dict[str, Any]) -> bytes:
    """One JSON object terminated by a newline; orjson escapes any newline inside values,
    so a value can never start a forged line. Never raises: a value orjson cannot encode
    (an integer beyond 64 bits, nesting past its limit, text that is not valid Unicode such as
    a header's undecodable bytes) is kept as text, invalid code points as ``\\udcff``
    escapes."""
    try:
        return orjson.dumps(event, default=str, option=_OPTIONS)
    except (TypeError, orjson.JSONEncodeError, RecursionError):
        return orjson.dumps({_valid(str(k)): _text(v) for k, v in event.items()}, option=_OPTIONS)


def render_plain_json_line(event: dict[str, Any]) -> bytes:
    """``render_json_line`` for an event built of str keys and JSON values (the access line),
    without the options an arbitrary event needs: nearly half the cost of rendering it."""
    try:
        return orjson.dumps(event, option=_PLAIN)
    except (TypeError, orjson.JSONEncodeError):
        return render_json_line(event)


def _text(value: Any) -> Any:
    if value is None or isinstance(value, bool | float):
        return value
    if isinstance(value, int) and -(2**63) <= value < 2**64:
        return value
    if isinstance(value, str):
        return _valid(value)
    try:
        return _valid(str(value))
    except RecursionError:
        return f"<{type(value).__name__} nested too deeply to render>"


def _valid(text: str) -> str:
    """``text`` as valid Unicode: lone surrogates (what undecodable bytes become under
    ``surrogateescape``) written as escapes, not dropped."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")
