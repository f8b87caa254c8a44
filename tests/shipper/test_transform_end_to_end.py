"""What a user finds in Elasticsearch for awkward lines: nothing dropped, everything tagged,
each event in the daily index of its own UTC day."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
from elasticsearch import AsyncElasticsearch

from shipper.elastic import INDEX_PATTERN

MIB = 1024 * 1024


def awkward_log() -> bytes:
    def line(**fields: Any) -> bytes:
        return orjson.dumps(fields) + b"\n"

    return b"".join(
        [
            line(timestamp=1705123456.1, marker="normal", request_id="req-1", level="INFO"),
            b"\n\n",
            b"this is not JSON at all\n",
            b'{"timestamp": 1705123456.2, "marker": "latin1", "message": "caf\xe9"}\n',
            line(timestamp=1705123456.3, marker="one-mb", message="x" * 1_000_000),
            b'{"marker": "too-long", "message": "' + b"y" * (MIB + 500_000) + b'"}\n',
            b"\n",
            line(timestamp=1704153599.9, marker="before-midnight"),
            line(timestamp=1704153600.1, marker="after-midnight"),
        ]
    )


async def all_documents(client: AsyncElasticsearch) -> list[dict[str, Any]]:
    await client.indices.refresh(index=INDEX_PATTERN)
    response = await client.search(index=INDEX_PATTERN, size=100, query={"match_all": {}})
    return [{"_index": hit["_index"], **hit["_source"]} for hit in response["hits"]["hits"]]


async def test_awkward_lines_are_all_shipped_and_tagged(
    tmp_path: Path, es_client: AsyncElasticsearch, shippers
) -> None:
    (tmp_path / "app.jsonl").write_bytes(awkward_log())
    shipper = shippers()
    shipper.start()
    await shipper.status_port()
    await shipper.wait_until_caught_up(7)

    documents = await all_documents(es_client)
    assert len(documents) == 7  # the three empty lines are skipped, nothing else
    assert (await shipper.metrics())["shipper_empty_lines_total"] == 3
    by_marker = {doc.get("marker"): doc for doc in documents}

    assert by_marker["normal"]["tags"] == ["traced"]
    assert by_marker["normal"]["@timestamp"] == "2024-01-13T05:24:16.100Z"

    (unparsed,) = [doc for doc in documents if doc["tags"][:1] == ["_jsonparsefailure"]]
    assert unparsed["message"] == "this is not JSON at all"
    assert "_timestamp_missing" in unparsed["tags"]

    assert by_marker["latin1"]["message"] == "caf\ufffd"
    assert by_marker["latin1"]["tags"] == ["_invalid_utf8"]

    assert len(by_marker["one-mb"]["message"]) == 1_000_000
    assert by_marker["one-mb"]["tags"] == []

    (cut,) = [doc for doc in documents if "_truncated" in doc["tags"]]
    assert cut["message"].startswith('{"marker": "too-long"')
    assert len(cut["message"]) == MIB
    assert "_jsonparsefailure" in cut["tags"]

    assert by_marker["before-midnight"]["_index"] == "jarvis-logs-2024.01.01"
    assert by_marker["after-midnight"]["_index"] == "jarvis-logs-2024.01.02"
    assert await shipper.stop() == 0


async def test_documents_follow_the_index_template(
    tmp_path: Path, es_client: AsyncElasticsearch, shippers
) -> None:
    record = {
        "timestamp": 1705123456.5,
        "level": "ERROR",
        "status": 500,
        "duration_ms": 12.5,
        "message": "boom",
        "traceback": "Traceback ...",
        "custom_field": "anything",
    }
    (tmp_path / "app.jsonl").write_bytes(orjson.dumps(record) + b"\n")
    shipper = shippers()
    shipper.start()
    await shipper.status_port()
    await shipper.wait_until_caught_up(1)
    mapping = await es_client.indices.get_mapping(index="jarvis-logs-2024.01.13")
    properties = mapping["jarvis-logs-2024.01.13"]["mappings"]["properties"]
    assert properties["@timestamp"]["type"] == "date"
    assert properties["timestamp"]["type"] == "double"
    assert properties["status"] == {"type": "long", "ignore_malformed": True}
    assert properties["duration_ms"]["type"] == "double"
    assert properties["level"]["type"] == "keyword"
    assert properties["message"]["type"] == "text"
    assert properties["message"]["fields"]["keyword"]["ignore_above"] == 1024
    assert properties["custom_field"] == {"type": "keyword", "ignore_above": 1024}
    assert properties["log"]["properties"]["offset"]["type"] == "long"
    # Every keyword, the contract's too, stops below Lucene's 32,766-byte term.
    assert properties["error"] == {"type": "keyword", "ignore_above": 8191}
    assert properties["host"]["properties"]["name"]["ignore_above"] == 8191
    event = properties["event"]["properties"]
    assert event["original"] == {"type": "text"}
    assert event["fallback_reason"] == {"type": "keyword", "ignore_above": 8191}
    settings = await es_client.indices.get_settings(index="jarvis-logs-2024.01.13")
    mapping_settings = settings["jarvis-logs-2024.01.13"]["settings"]["index"]["mapping"]
    assert mapping_settings["ignore_malformed"] == "true"
    assert mapping_settings["total_fields"]["ignore_dynamic_beyond_limit"] == "true"
    assert await shipper.stop() == 0


async def test_a_health_line_with_a_word_in_status_is_stored_not_rejected(
    tmp_path: Path, es_client: AsyncElasticsearch, shippers
) -> None:
    lines = [
        {"timestamp": 1705123456.0, "action": "http_access", "status": 200, "marker": "access"},
        {"timestamp": 1705123457.0, "action": "health_change", "status": "up", "marker": "health"},
    ]
    (tmp_path / "app.jsonl").write_bytes(b"".join(orjson.dumps(line) + b"\n" for line in lines))
    shipper = shippers()
    shipper.start()
    await shipper.status_port()
    await shipper.wait_until_caught_up(2)
    assert (await shipper.metrics())["shipper_events_dead_lettered_total"] == 0
    by_marker = {doc["marker"]: doc for doc in await all_documents(es_client)}
    assert by_marker["health"]["status"] == "up"
    assert by_marker["access"]["status"] == 200
    assert await shipper.stop() == 0
