"""to_event: the seed's Logstash filter, nothing dropped, and no line it cannot handle."""

import asyncio
import random

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


def test_a_truncated_line_is_tagged_and_keeps_its_time() -> None:
    _, doc = event_for(b'{"timestamp": 1705123456.5, "mess', truncated=True)
    assert doc["tags"] == ["_truncated", "_jsonparsefailure"]
    assert doc["@timestamp"] == "2024-01-13T05:24:16.500Z"


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


def test_the_time_is_read_from_iso_milliseconds_and_at_timestamp() -> None:
    for line, expected in [
        (b'{"timestamp": "2024-01-13T05:24:16.789Z"}', "2024-01-13T05:24:16.789Z"),
        (b'{"timestamp": 1705123456789}', "2024-01-13T05:24:16.789Z"),
        (b'{"@timestamp": "2024-01-13T06:24:16+01:00"}', "2024-01-13T05:24:16.000Z"),
    ]:
        event, doc = event_for(line)
        assert doc["@timestamp"] == expected, line
        assert event.index == "jarvis-logs-2024.01.13"
        assert "_timestamp_missing" not in doc["tags"] and "_fields_moved" not in doc["tags"]


def test_a_line_nested_beyond_what_orjson_encodes_is_a_fallback_at_once() -> None:
    depth = 300
    data = b'{"timestamp": 1.0, "level": "INFO", "deep": ' + b'{"n":' * depth + b"1"
    data += b"}" * (depth + 1)
    event, doc = event_for(data)
    assert event.fallback == "unencodable"
    assert doc["tags"] == ["_mapping_fallback"]
    assert doc["level"] == "INFO" and doc["timestamp"] == 1.0 and "deep" not in doc
    assert doc["event"]["original"] == data.decode()
    assert "Recursion limit" in doc["event"]["fallback_reason"]
    assert doc["log"] == {"file": {"path": "/logs/app.jsonl"}, "offset": 42}
    assert doc["host"] == {"name": "box"}


def test_fields_elasticsearch_would_refuse_are_set_aside_and_the_rest_kept() -> None:
    data = b'{"timestamp": 1.0, "_id": "x", "": 1, "level": {"a": 1}, "user_id": "u", "ok": 2}'
    event, doc = event_for(data)
    assert event.fallback == "fields_moved"
    assert doc["tags"] == ["_fields_moved"]
    assert {"_id", "", "level"}.isdisjoint(doc)
    assert doc["user_id"] == "u" and doc["ok"] == 2
    assert doc["event"]["original"] == data.decode()
    reason = doc["event"]["fallback_reason"]
    assert "'_id'" in reason and "''" in reason and "'level'" in reason


def test_a_lines_own_host_and_log_are_merged_and_what_the_shipper_replaces_is_kept() -> None:
    _, doc = event_for(b'{"timestamp": 1.0, "host": {"ip": "10.0.0.1"}, "log": {"level": "warn"}}')
    assert doc["host"] == {"ip": "10.0.0.1", "name": "box"}
    assert doc["log"] == {"level": "warn", "file": {"path": "/logs/app.jsonl"}, "offset": 42}
    assert doc["tags"] == [] and "event" not in doc
    _, doc = event_for(b'{"timestamp": 1.0, "host": {"name": "db-1"}, "log": "app.log"}')
    assert doc["host"] == {"name": "box"} and doc["log"]["offset"] == 42
    assert doc["tags"] == ["_fields_moved"]
    assert '"db-1"' in doc["event"]["original"] and '"app.log"' in doc["event"]["original"]


def test_a_value_too_long_to_index_keeps_the_line_whole_as_well() -> None:
    data = orjson.dumps({"timestamp": 1.0, "blob": "word " * 1000})
    event, doc = event_for(data)
    assert event.fallback == "original_kept"
    assert doc["tags"] == ["_original_kept"]
    assert doc["blob"] == "word " * 1000 and doc["event"]["original"] == data.decode()


def test_json_only_pythons_parser_takes_is_kept_as_fields_and_whole() -> None:
    event, doc = event_for(b'{"timestamp": 1.0, "marker": "m", "n": NaN, "big": 1e400}')
    assert event.fallback == "original_kept"
    assert doc["marker"] == "m" and doc["n"] is None and doc["big"] is None
    assert "1e400" in doc["event"]["original"]


def test_a_byte_order_mark_is_not_part_of_the_line() -> None:
    _, doc = event_for(b'\xef\xbb\xbf{"timestamp": 1.0, "marker": "m"}')
    assert doc["marker"] == "m" and doc["tags"] == []


def test_no_line_makes_the_transform_raise() -> None:
    """Random splices of awkward fragments: every one gives an event whose source is JSON."""
    fragments = [b'{"', b'"}', b"{", b"}", b"[", b"]", b":", b",", b'"_id"', b'"host"', b'"tags"',
                 b'"event"', b'"@timestamp"', b'"timestamp"', b"1e400", b"NaN", b"\\ud800",
                 b"\xff", b"\x00", b'"."', b'""', b"null", b"-1", b"1705123456789", b'"a.b"',
                 b'"2024-01-13T05:24:16Z"', b"\\", b'{"n":' * 300, b"[" * 1100]  # fmt: skip
    chooser = random.Random(10)
    for _ in range(3000):
        data = b"".join(chooser.choices(fragments, k=chooser.randint(1, 12)))
        event, doc = event_for(data)
        assert isinstance(doc, dict) and doc["log"]["offset"] == 42, data
        assert event.index.startswith("jarvis-logs-")


def test_a_common_line_gets_the_document_the_careful_way_would_give() -> None:
    """Flat lines with plain names take a quicker way through the transform: their documents
    are those the checks of every other line would have built, byte for byte."""
    from shipper.transform import _document, _plain_document

    lines = [
        b'{"timestamp": 1705123456.789, "level": "INFO", "request_id": "r1", "status": 200}',
        b'{"timestamp": "2024-01-13T05:24:16Z", "message": "caf\xc3\xa9 \\u00e9", "n": null}',
        b'{"timestamp": 1705123456789, "user_id": "enzo", "ok": true, "x": -1.5e3}',
        b'{"request_id": "", "message": "no time"}',
        b"{}",
        b' {"timestamp": 2.0 } ',
    ]
    for data in lines:
        line = Line(7, 8 + len(data), data, False)
        quick = _plain_document(line, "/logs/app.jsonl", "box")
        careful = _document(line, "/logs/app.jsonl", "box")
        assert quick is not None, data
        if "_timestamp_missing" in careful[0]["tags"]:
            careful[0]["@timestamp"] = quick[0]["@timestamp"]
            careful = (careful[0], quick[1], careful[2])
        assert orjson.dumps(quick[0]) == orjson.dumps(careful[0]) and quick[1:] == careful[1:]


def test_only_a_flat_line_with_plain_names_takes_the_quicker_way() -> None:
    from shipper.transform import _plain_document

    for data in (
        b'{"tags": ["a"]}',
        b'{"host": "h"}',
        b'{"a.b": 1}',
        b'{"a": {"b": 1}}',
        b'{"a": "[not a list]"}',
        b'\xef\xbb\xbf{"a": 1}',
        b'{"a": "caf\xe9"}',
        b'{"n": NaN}',
        b"[1]",
    ):
        assert _plain_document(Line(0, len(data) + 1, data, False), "/p", "h") is None, data
    cut = Line(0, 9, b'{"a": 1}', True)
    assert _plain_document(cut, "/p", "h") is None
