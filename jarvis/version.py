"""The version every command reports with ``--version``: the installed distribution's."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

DISTRIBUTION = "jarvis-observability"


def version_text(program: str) -> str:
    """``jarvis-shipper 0.1.0``; ``unknown`` when run from a tree that is not installed."""
    try:
        number = version(DISTRIBUTION)
    except PackageNotFoundError:
        number = "unknown"
    return f"{program} {number}"
