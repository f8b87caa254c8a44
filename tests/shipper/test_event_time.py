"""event_time: a line's own time, however it writes it, or None when it gives none."""

from __future__ import annotations

import pytest

from shipper.event_time import epoch_of, event_time, event_time_in_text, iso_time

T = 1705123456.789  # 2024-01-13T05:24:16.789Z


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (T, T),
        (1705123456, 1705123456.0),
        (1705123456789, T),  # milliseconds
        ("1705123456.789", T),
        (" 1705123456789 ", T),
        ("2024-01-13T05:24:16.789Z", T),
        ("2024-01-13T05:24:16.789+00:00", T),
        ("2024-01-13T06:24:16.789+01:00", T),
        ("2024-01-13 05:24:16.789", T),  # no offset: UTC
        ("2024-01-13T05:24:16.789123Z", 1705123456.789123),
        (0, 0.0),
        (99999999999, 99999999999.0),  # seconds, up to the year 5138...
        (100000000000, 100000000.0),  # ...and milliseconds past it
        (4102444800, 4102444800.0),  # 2100-01-01
    ],
)
def test_times_the_shipper_reads(value: object, expected: float) -> None:
    assert epoch_of(value) == pytest.approx(expected, abs=1e-6)


@pytest.mark.parametrize(
    "value",
    [None, True, False, -5, -1e-3, 1e300, 1e14, float("nan"), float("inf"), "", "soon",
     "nan", "inf", "2024-13-45T99:99:99Z", "x" * 100, {"at": 1}, [T], "0001-01-01T00:00:00+14:00"],
)  # fmt: skip
def test_what_is_not_a_time_is_none(value: object) -> None:
    assert epoch_of(value) is None


def test_timestamp_is_read_before_at_timestamp_and_a_garbage_one_skipped() -> None:
    assert event_time({"timestamp": T, "@timestamp": "2020-01-01T00:00:00Z"}) == T
    assert event_time({"timestamp": "garbage", "@timestamp": "2024-01-13T05:24:16.789Z"}) == (
        pytest.approx(T)
    )
    assert event_time({"message": "no time"}) is None


def test_the_time_of_a_line_that_cannot_be_parsed_is_found_in_its_text() -> None:
    assert event_time_in_text('{"timestamp": 1705123456.789, "message": "cut her') == T
    assert event_time_in_text('{"level":"INFO","@timestamp":"2024-01-13T05:24:16.789Z","x') == (
        pytest.approx(T)
    )
    assert event_time_in_text('{"message": "a \\"timestamp\\": 5 inside", "x') is None
    assert event_time_in_text("no time at all") is None


def test_iso_time_is_utc_to_the_millisecond() -> None:
    assert iso_time(T) == "2024-01-13T05:24:16.789Z"


def test_iso_time_writes_what_datetime_writes() -> None:
    """Including the rounding to the microsecond, then the cut to the millisecond."""
    import math
    import random
    from datetime import UTC, datetime

    chooser = random.Random(7)
    values = [chooser.uniform(0, 4.1e9) for _ in range(20_000)]
    values += [second + part for second in (0, 1705123456) for part in (0.9999995, 0.0005, 0.9995)]
    values += [math.nextafter(value, 0) for value in values[-6:]]
    for value in values:
        expected = datetime.fromtimestamp(value, UTC).isoformat(timespec="milliseconds")
        assert iso_time(value) == expected.replace("+00:00", "Z"), value
