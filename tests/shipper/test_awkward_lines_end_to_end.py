"""Whatever a line holds, one shipper stores it as exactly one document a search finds, and
keeps running: the corpus of ``awkward_lines.py``, shipped by the real ``jarvis-shipper`` into
a real Elasticsearch, nothing dead-lettered."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from awkward_lines import HOST, MAX_LINE_BYTES, Awkward, corpus, corpus_file
from elasticsearch import AsyncElasticsearch

from shipper.elastic import INDEX_PATTERN
from shipper.metrics import FALLBACK_REASONS


async def documents_with(client: AsyncElasticsearch, line: Awkward) -> list[dict[str, Any]]:
    """The documents a search for the line's marker finds: as a field, in the message, or
    anywhere in the line kept whole in ``event.original``."""
    response = await client.search(
        index=INDEX_PATTERN,
        size=5,
        query={
            "bool": {
                "should": [
                    {"term": {"marker": line.marker}},
                    {"match_phrase": {"message": line.marker}},
                    {"match_phrase": {"event.original": line.marker}},
                ],
                "minimum_should_match": 1,
            }
        },
        source_includes=["tags", "@timestamp", "event.fallback_reason", *line.must_hold],
    )
    return [{"_index": hit["_index"], **hit["_source"]} for hit in response["hits"]["hits"]]


def mismatches(line: Awkward, document: dict[str, Any]) -> list[str]:
    """What the document of ``line`` shows that the corpus says it must not."""
    found = []
    if missing := line.tags - set(document.get("tags", [])):
        found.append(f"tags {sorted(missing)} missing from {document.get('tags', [])[:8]}")
    if line.time and document["@timestamp"] != line.time:
        found.append(f"@timestamp {document['@timestamp']}, not {line.time}")
    if line.index and document["_index"] != line.index:
        found.append(f"index {document['_index']}, not {line.index}")
    for name, value in line.must_hold.items():
        if document.get(name) != value:
            found.append(f"{name} = {document.get(name)!r}, not {value!r}")
    return found


@pytest.mark.parametrize("senders", [1, 4])
async def test_every_awkward_line_is_one_document_found_by_its_marker(
    tmp_path: Path, es_client: AsyncElasticsearch, shippers, senders: int
) -> None:
    """With one sender, batches are stored in file order: which line maps a field first, so
    which later one Elasticsearch refuses, is the corpus's order, and each document is checked
    in full. With several, that order is lost, and only the promise itself is: each line one
    document, found, none dead-lettered."""
    ordered = senders == 1
    lines = corpus()
    (tmp_path / "app.jsonl").write_bytes(corpus_file(lines))
    shipper = shippers(max_line_bytes=str(MAX_LINE_BYTES), host_name=HOST, senders=str(senders))
    shipper.start()
    await shipper.status_port()
    await shipper.wait_until_caught_up(len(lines), timeout=180)
    assert shipper.process is not None and shipper.process.poll() is None, "the shipper died"

    await es_client.indices.refresh(index=INDEX_PATTERN)
    assert (await es_client.count(index=INDEX_PATTERN))["count"] == len(lines)
    problems = {}
    for line in lines:
        documents = await documents_with(es_client, line)
        if len(documents) != 1:
            problems[line.kind] = [f"{len(documents)} documents found"]
        elif ordered and (found := mismatches(line, documents[0])):
            problems[line.kind] = found
    assert not problems, problems

    metrics = await shipper.metrics()
    assert metrics["shipper_events_dead_lettered_total"] == 0
    assert metrics["shipper_events_shipped_total"] == len(lines)
    fallbacks = {
        reason: metrics[f'shipper_events_fallback_total{{reason="{reason}"}}']
        for reason in FALLBACK_REASONS
    }
    # Each degree of fallback is exercised by the corpus (which, depends on the order).
    assert all(fallbacks.values()) if ordered else sum(fallbacks.values()) >= 30, fallbacks
    dead_letter = tmp_path / "state" / "dead-letter.jsonl"
    assert not dead_letter.exists() or dead_letter.stat().st_size == 0
    dead_lettered = metrics["shipper_events_dead_lettered_total"]
    print(f"\ncorpus: {len(lines)} lines found once each; {senders=} {fallbacks=} {dead_lettered=}")
    assert shipper.process.poll() is None
    assert await shipper.stop() == 0
