"""to_event: the seed's Logstash filter, and nothing dropped."""

import orjson

from shipper.file_progress import FileProgress
from shipper.line_decoder import Line
from shipper.transform import to_event

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
