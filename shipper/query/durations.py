"""Time bounds typed on the command line: ``30s``, ``15m``, ``1h``, ``2d``, ``1w`` or ISO 8601."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

_DURATION = re.compile(r"(\d{1,9})([smhdw])")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 604_800}


def parse_duration(text: str) -> timedelta:
    """A positive duration from ``<count><unit>`` (s, m, h, d, w); ``ValueError`` otherwise."""
    match = _DURATION.fullmatch(text.strip())
    if match is None or int(match.group(1)) == 0:
        raise ValueError(f"{text!r} is not a duration such as 30m, 1h or 2d")
    try:
        return timedelta(seconds=int(match.group(1)) * _UNIT_SECONDS[match.group(2)])
    except OverflowError:
        raise ValueError(f"{text!r} is too long a duration") from None


def parse_time_bound(text: str, now: datetime) -> datetime:
    """An instant: ``now`` minus a duration (``1h``), or an ISO 8601 date/time (UTC if naive).

    Raises ``ValueError`` with a message a user can act on when it is neither.
    """
    try:
        duration = parse_duration(text)
    except ValueError:
        pass
    else:
        try:
            return now - duration
        except OverflowError:
            raise ValueError(f"{text!r} reaches before year 1") from None
    try:
        instant = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(
            f"{text!r} is neither a duration (30m, 1h, 2d) nor an ISO 8601 time "
            "(2026-01-13T08:00:00Z)"
        ) from None
    return instant if instant.tzinfo is not None else instant.replace(tzinfo=UTC)
