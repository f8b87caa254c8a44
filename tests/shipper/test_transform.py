"""to_event: the seed's Logstash filter, and nothing dropped."""

import asyncio

import orjson

from shipper.event import END_OF_STREAM, EventQueue
from shipper.file_progress import FileProgress
from shipper.source.line_decoder import Line
from shipper.source.tailer import LineGroup, LineQueue
from shipper.transform import Transformer, to_event

PROGRESS = FileProgress("f1ngerprint", "/logs/app.jsonl")


def event_for(data: bytes, truncated: bool = False, start: int = 42):
    line = Line(start, start + len(data) + 1, data, truncated)
    event = to_event(line, PROGRESS, "/logs/app.jsonl", "box")
    return event, orjson.loads(event.source)


def test_a_traced_line_keeps_its_fields_and_gets_timestamp_tags_and_origin() -> None:
    event, doc = event_for(b'{"timestamp": 1705123456.789, "level": "INFO", "request_id": "r1"}')
    assert doc["level"] == "INFO" and doc["request_id"] == "r1"
    assert doc["@timestamp"] == "2024-01-13T05:24:16.789Z"
    assert doc["tags"] == ["traced"]
    assert doc["log"] == {"file": {"path": "/logs/app.jsonl"}, "offset": 42}
    assert doc["host"] == {"name": "box"}
    assert event.index == "jarvis-logs-2024.01.13"
    assert event.doc_id == "f1ngerprint-42"


def test_a_line_without_request_id_is_not_traced() -> None:
    _, doc = event_for(b'{"timestamp": 1705123456.0, "request_id": null}')
    assert doc["tags"] == []


def test_a_line_that_is_not_json_is_shipped_as_its_text() -> None:
    _, doc = event_for(b"Traceback (most recent call last):")
    assert doc["message"] == "Traceback (most recent call last):"
    assert doc["tags"] == ["_jsonparsefailure", "_timestamp_missing"]


def test_json_that_is_not_an_object_is_a_parse_failure() -> None:
    _, doc = event_for(b"[1, 2]")
    assert doc["message"] == "[1, 2]" and "_jsonparsefailure" in doc["tags"]


def test_invalid_utf8_is_replaced_and_tagged() -> None:
    _, doc = event_for(b'{"timestamp": 1.0, "message": "caf\xe9"}')
    assert doc["message"] == "caf\ufffd"
    assert doc["tags"] == ["_invalid_utf8"]


def test_a_truncated_line_is_tagged() -> None:
    _, doc = event_for(b'{"timestamp": 1.0, "mess', truncated=True)
    assert doc["tags"] == ["_truncated", "_jsonparsefailure", "_timestamp_missing"]


def test_existing_tags_are_kept() -> None:
    _, doc = event_for(b'{"timestamp": 1.0, "tags": ["audit"], "request_id": "x"}')
    assert doc["tags"] == ["audit", "traced"]


def test_events_either_side_of_midnight_go_to_their_own_day() -> None:
    before, _ = event_for(b'{"timestamp": 1704153599.999}')
    after, _ = event_for(b'{"timestamp": 1704153600.0}')
    assert (before.index, after.index) == ("jarvis-logs-2024.01.01", "jarvis-logs-2024.01.02")


async def test_the_transform_stage_turns_each_group_into_events_and_passes_the_end_on() -> None:
    lines: LineQueue = asyncio.Queue()
    events: EventQueue = asyncio.Queue()
    group = [Line(0, 19, b'{"timestamp": 1.0}', False), Line(19, 21, b"x", False)]
    lines.put_nowait(LineGroup(PROGRESS, "/logs/app.jsonl", group))
    lines.put_nowait(END_OF_STREAM)
    await asyncio.wait_for(Transformer(lines, events, host_name="box").run(), 10)
    transformed = events.get_nowait()
    assert transformed is not None
    assert [event.doc_id for event in transformed] == ["f1ngerprint-0", "f1ngerprint-19"]
    assert events.get_nowait() is END_OF_STREAM
