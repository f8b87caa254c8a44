"""fallback: what is set aside, what is kept whole, and a safe document that always encodes."""

from __future__ import annotations

import orjson
import pytest

from shipper.fallback import decode_lenient, merge_own, safe_document, set_aside


@pytest.mark.parametrize(
    "name", ["", " ", ".", "...", ".a", "a..b", "a. .b", "_id", "_source", "_doc_count"]
)
def test_names_elasticsearch_refuses_or_keeps_for_itself_are_set_aside(name: str) -> None:
    fields = {name: 1, "kept": 2}
    (reason,) = set_aside(fields, None)
    assert fields == {"kept": 2} and repr(name) in reason


@pytest.mark.parametrize("name", ["a", "a.b", "a.", "_private", "a b", "ключ", "@version"])
def test_other_names_stay(name: str) -> None:
    fields = {name: 1}
    assert set_aside(fields, None) == [] and fields == {name: 1}


def test_a_contract_field_holding_an_object_anywhere_is_set_aside() -> None:
    fields = {"level": [["INFO", {"a": 1}]], "user_id": ["u1", "u2"], "status": "ok"}
    assert len(set_aside(fields, None)) == 1
    assert fields == {"user_id": ["u1", "u2"], "status": "ok"}


def test_the_shippers_objects_merge_with_the_lines_and_say_what_they_replace() -> None:
    fields: dict[str, object] = {"log": {"level": "warn", "file": {"path": "mine", "line": 3}}}
    replaced = merge_own(fields, "log", {"file": {"path": "/logs/app.jsonl"}, "offset": 7})
    assert fields["log"] == {
        "level": "warn",
        "file": {"path": "/logs/app.jsonl", "line": 3},
        "offset": 7,
    }
    assert replaced == ["'log.file.path': set by the shipper"]


def test_a_safe_document_encodes_whatever_the_contract_fields_held() -> None:
    line = (
        '{"message": "\\ud800 lone", "line": <BIG>, "bytes": <HUGE>, "level": [["deep"], "INFO"], '
        '"status": NaN, "tags": ["a", "_fields_moved"], "@timestamp": "2024-01-13T05:24:16.000Z",'
        ' "log": {"file": {"path": "/p"}, "offset": 3}, "host": {"name": "h"}, "other": 1}'
    )
    document = decode_lenient(line.replace("<BIG>", str(2**70)).replace("<HUGE>", str(10**400)))
    assert document is not None
    safe = orjson.loads(orjson.dumps(safe_document(document, "the line", "why")))
    assert safe["message"] == "? lone" and safe["line"] == float(2**70)
    assert "bytes" not in safe and safe["level"] == ["INFO"] and safe["status"] is None
    assert safe["tags"] == ["a", "_mapping_fallback"] and "other" not in safe
    assert safe["log"] == {"file": {"path": "/p"}, "offset": 3} and safe["host"] == {"name": "h"}
    assert safe["event"] == {"original": "the line", "fallback_reason": "why"}
