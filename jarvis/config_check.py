"""``jarvis config check``: the effective settings, each with where its value came from
(``default``, ``file <path>: [section] key``, ``env VARIABLE``, ``flag --option``), so that an
operator sees before deploying what the server would run with. Secrets are masked: the
password of any URL (``REDIS_URL``, ``OLLAMA_URL``), and fields marked ``secret``.
"""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Iterator
from typing import Any

from jarvis.config import ByteSize, Resolved, is_secret, shown_value, size_text

EMPTY = '""'


def settings_table(resolved: Resolved[Any]) -> Iterator[str]:
    """One line per setting: name, value as it may be shown, origin; columns aligned."""
    hints = typing.get_type_hints(type(resolved.settings))
    rows = [
        (
            f.name,
            shown_value(
                _as_written(getattr(resolved.settings, f.name), hints[f.name]), secret=is_secret(f)
            ),
            resolved.origins[f.name].shown,
        )
        for f in dataclasses.fields(resolved.settings)
        if f.init
    ]
    name_width = max(len(name) for name, _, _ in rows)
    value_width = min(max(len(value) for _, value, _ in rows), 40)
    for name, value, origin in rows:
        # An empty value is shown as TOML writes it, so that the column is never blank.
        yield f"{name:<{name_width}}  {value or EMPTY:<{value_width}}  {origin}"


def _as_written(value: Any, kind: Any) -> Any:
    """``true`` rather than ``True``, ``64KiB`` rather than ``65536``: as a file would say it."""
    if isinstance(value, bool):
        return str(value).lower()
    if kind is ByteSize:
        return size_text(value)
    return "" if value is None else value
