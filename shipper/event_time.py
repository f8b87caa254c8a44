"""When a line happened, read from the line itself: its ``timestamp`` (the contract's epoch
seconds) or ``@timestamp``, given as epoch seconds, epoch milliseconds or an ISO 8601 string,
or found in the raw text of a line that could not be parsed (cut at ``--max-line-bytes``, or
nested too deep).
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Mapping
from datetime import UTC, datetime

from jarvis.logline import TIMESTAMP

# Times outside this range cannot name a daily index; they are treated as missing.
EPOCH_MIN = 0.0
EPOCH_MAX = 253402300799.0  # 9999-12-31T23:59:59Z
# A number of seconds this large would be after the year 5138: it is taken as milliseconds.
_MILLISECONDS_FROM = 1e11
_MILLISECONDS_UNTIL = 1e14
_LONGEST_TIME_TEXT = 64

TIME_FIELDS = (TIMESTAMP, "@timestamp")
# A tuple, not ``int | float``: that union would be built again at each call, once per line.
_NUMBERS = (int, float)

# The first time field in a line's raw text, whatever comes after it; its value is quoted
# (an ISO string) or not (a number). An escaped quote cannot open a match: the key's closing
# quote must be followed by the colon.
_TIME_IN_TEXT = re.compile(r'"@?timestamp"\s*:\s*("[^"\\]{1,64}"|[-+0-9.eE]{1,32})')


def event_time(fields: Mapping[str, object]) -> float | None:
    """Epoch seconds of the first of ``timestamp`` and ``@timestamp`` that holds a time."""
    for name in TIME_FIELDS:
        epoch = epoch_of(fields.get(name))
        if epoch is not None:
            return epoch
    return None


def event_time_in_text(text: str) -> float | None:
    """Epoch seconds of the first time field written in ``text``, parsed or not."""
    match = _TIME_IN_TEXT.search(text)
    if match is None:
        return None
    return epoch_of(match.group(1).strip('"'))


def epoch_of(value: object) -> float | None:
    """Epoch seconds of a number (seconds, or milliseconds when that large) or of a string
    (the same as text, or ISO 8601: UTC unless it names an offset); None when not a time
    in years 1970-9999."""
    if isinstance(value, str):
        return _epoch_of_text(value)
    if isinstance(value, bool) or not isinstance(value, _NUMBERS):
        return None
    epoch = float(value)
    if _MILLISECONDS_FROM <= epoch < _MILLISECONDS_UNTIL:
        epoch /= 1000
    if not math.isfinite(epoch) or not EPOCH_MIN <= epoch <= EPOCH_MAX:
        return None
    return epoch


def iso_time(epoch: float) -> str:
    """``2024-01-13T05:24:16.789Z``: the ``@timestamp`` of every document, exactly as
    ``datetime.fromtimestamp(epoch, UTC).isoformat(timespec="milliseconds")`` writes it."""
    # datetime's own rounding: to the nearest microsecond (half to even), then cut to the
    # millisecond. Formatting a datetime per event cost more than the rest of the transform:
    # the text of each second is kept instead, and only the milliseconds added.
    fraction, whole = math.modf(epoch)
    micros = round(fraction * 1e6)
    if micros >= 1_000_000:
        whole, micros = whole + 1, micros - 1_000_000
    elif micros < 0:
        whole, micros = whole - 1, micros + 1_000_000
    return f"{_second_text(int(whole))}.{micros // 1000:03d}Z"


@functools.lru_cache(maxsize=1024)
def _second_text(second: int) -> str:
    return datetime.fromtimestamp(second, UTC).isoformat(timespec="seconds").removesuffix("+00:00")


def _epoch_of_text(text: str) -> float | None:
    text = text.strip()
    if not text or len(text) > _LONGEST_TIME_TEXT:
        return None
    try:
        return epoch_of(float(text))
    except ValueError:
        pass
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    try:
        return epoch_of(moment.timestamp())
    except (OverflowError, ValueError):
        return None
