"""One log event rendered as one JSON line: the renderer of the server and the shipper alike."""

from __future__ import annotations

from typing import Any

import orjson

_OPTIONS = orjson.OPT_NON_STR_KEYS | orjson.OPT_APPEND_NEWLINE


def render_json_line(event: dict[str, Any]) -> bytes:
    """One JSON object terminated by a newline; orjson escapes any newline inside values,
    so a value can never start a forged line. Never raises: a value orjson cannot encode
    (an integer beyond 64 bits, nesting past its limit) is kept as text."""
    try:
        return orjson.dumps(event, default=str, option=_OPTIONS)
    except (TypeError, orjson.JSONEncodeError, RecursionError):
        return orjson.dumps({str(k): _text(v) for k, v in event.items()}, option=_OPTIONS)


def _text(value: Any) -> Any:
    if value is None or isinstance(value, bool | float | str):
        return value
    if isinstance(value, int) and -(2**63) <= value < 2**64:
        return value
    try:
        return str(value)
    except RecursionError:
        return f"<{type(value).__name__} nested too deeply to render>"
