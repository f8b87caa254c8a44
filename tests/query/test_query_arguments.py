"""The rules behind jarvis-logs' arguments: request IDs, durations, levels."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from jarvis.logline import is_valid_request_id
from shipper.query.durations import parse_duration, parse_time_bound
from shipper.query.filters import levels_at_least

# One rule for the server's X-Request-ID and for what jarvis-logs will query (jarvis.logline).
ACCEPTED = ["123e4567-e89b-12d3-a456-426614174000", "a", "A.b_c:d-e", "x" * 128]
REFUSED = [
    "x" * 129,
    "",
    "with space",
    "trailing\n",
    "caf\u00e9",
    "semi;colon",
    "slash/",
    "star*",
    "quote'",
    "\x00",
]


@pytest.mark.parametrize("value", ACCEPTED)
def test_request_ids_the_server_could_have_issued_are_accepted(value):
    assert is_valid_request_id(value)


@pytest.mark.parametrize("value", REFUSED)
def test_anything_else_is_refused_before_a_query(value):
    assert not is_valid_request_id(value)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("45s", timedelta(seconds=45)),
        ("30m", timedelta(minutes=30)),
        ("1h", timedelta(hours=1)),
        ("2d", timedelta(days=2)),
        ("1w", timedelta(weeks=1)),
    ],
)
def test_durations(text, expected):
    assert parse_duration(text) == expected


@pytest.mark.parametrize(
    "text", ["", "0h", "h", "1", "1y", "-1h", "1.5h", "1h30m", "9" * 12 + "s", "999999999w"]
)
def test_not_durations(text):
    with pytest.raises(ValueError):
        parse_duration(text)


def test_time_bounds_are_a_duration_ago_or_an_iso_time():
    now = datetime(2026, 1, 13, 12, 0, tzinfo=UTC)
    assert parse_time_bound("90m", now) == datetime(2026, 1, 13, 10, 30, tzinfo=UTC)
    assert parse_time_bound("2026-01-13T08:00:00Z", now) == datetime(2026, 1, 13, 8, tzinfo=UTC)
    assert parse_time_bound("2026-01-13T09:00", now) == datetime(2026, 1, 13, 9, tzinfo=UTC)
    with pytest.raises(ValueError, match="neither a duration"):
        parse_time_bound("yesterday", now)
    with pytest.raises(ValueError):
        parse_time_bound("999999d", now)


def test_a_level_means_that_level_or_worse():
    assert levels_at_least("warning") == ("WARNING", "ERROR", "CRITICAL")
    assert levels_at_least("WARN") == ("WARNING", "ERROR", "CRITICAL")
    assert levels_at_least("DEBUG")[0] == "DEBUG"
    with pytest.raises(ValueError):
        levels_at_least("loud")
