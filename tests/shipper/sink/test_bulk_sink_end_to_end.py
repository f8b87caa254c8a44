"""BulkSink against a real Elasticsearch: outages are waited out without losing a line or
compressing one away; an item it refuses is stored as its fallback, alone."""

from __future__ import annotations

from pathlib import Path

import orjson
from elasticsearch import AsyncElasticsearch
from shipper_harness import (
    assert_exactly_once,
    backup_names,
    markers_in_elasticsearch,
    run_writer,
    wait_for_metric,
    writer_markers,
)

from shipper.elastic import INDEX_PATTERN


async def test_elasticsearch_down_while_writing_and_rotating_loses_nothing(
    tmp_path: Path, es_client: AsyncElasticsearch, elasticsearch_node, shippers
) -> None:
    log = tmp_path / "app.jsonl"
    shipper = shippers(rotate_size="300000", keep="2")
    shipper.start()
    await shipper.status_port()
    before = await run_writer(log, 3_000, "before")
    assert await before.wait() == 0
    await shipper.wait_until_caught_up(3_000)

    await elasticsearch_node.astop()
    try:
        # Paced so that the rotator sees the file pass --rotate-size several times.
        during = await run_writer(log, 12_000, "during", "--pause-every", "1000", "--pause", "0.2")
        assert await during.wait() == 0
        down = await wait_for_metric(shipper, "shipper_files_held_back", lambda held: held >= 3)
        assert down["shipper_elasticsearch_up"] == 0
        assert down["shipper_lag_bytes"] > 0
        health = await shipper.health()
        assert health["status"] == "degraded" and health["files_held_back"] >= 3
        # Held back: more backups than --keep, uncompressed, none deleted.
        assert len([name for name in backup_names(tmp_path) if name[-1].isdigit()]) >= 3
    finally:
        await elasticsearch_node.astart()
    await shipper.wait_until_caught_up(15_000, timeout=180)
    await wait_for_metric(shipper, "shipper_files_held_back", lambda held: held == 0)
    written = writer_markers("before", 3_000) + writer_markers("during", 12_000)
    assert_exactly_once(await markers_in_elasticsearch(es_client), written)
    assert len(backup_names(tmp_path)) <= 2
    assert (await shipper.health())["status"] == "ok"
    assert any("held back" in str(entry.get("message")) for entry in shipper.own_logs())
    assert await shipper.stop() == 0


async def test_a_document_elasticsearch_refuses_is_stored_as_its_fallback_under_its_id(
    tmp_path: Path, es_client: AsyncElasticsearch, shippers
) -> None:
    """Once dead-lettered, a mapping conflict now becomes one searchable fallback document."""
    lines = [{"timestamp": 1705123456.0 + n, "status": 200, "marker": f"ok-{n}"} for n in range(10)]
    # A dotted key colliding with an object: no transform can tell, Elasticsearch refuses it.
    bad = {"timestamp": 1705123456.5, "level": "WARNING", "d.e": 1, "d": {"e": {"f": 2}}}
    lines.insert(5, {**bad, "marker": "bad"})
    log = tmp_path / "app.jsonl"
    log.write_bytes(b"".join(orjson.dumps(line) + b"\n" for line in lines))
    offset = sum(len(orjson.dumps(line)) + 1 for line in lines[:5])
    shipper = shippers()
    shipper.start()
    await shipper.status_port()
    await shipper.wait_until_caught_up(11)
    metrics = await shipper.metrics()
    assert metrics["shipper_events_dead_lettered_total"] == 0
    assert metrics["shipper_events_shipped_total"] == 11
    assert metrics['shipper_events_fallback_total{reason="refused"}'] == 1
    assert_exactly_once(await markers_in_elasticsearch(es_client), [f"ok-{n}" for n in range(10)])
    found = await es_client.search(
        index=INDEX_PATTERN, query={"match_phrase": {"event.original": "bad"}}
    )
    (hit,) = found["hits"]["hits"]
    document = hit["_source"]
    assert hit["_id"].endswith(f"-{offset}"), "the line's own _id: stored once, whatever happens"
    assert document["event"]["original"] == orjson.dumps(lines[5]).decode()
    assert "d.e" in document["event"]["fallback_reason"]
    assert document["tags"] == ["_mapping_fallback"]
    assert document["@timestamp"] == "2024-01-13T05:24:16.500Z"
    assert document["log"]["offset"] == offset
    assert document["level"] == "WARNING", "the contract's fields are kept"
    assert not (tmp_path / "state" / "dead-letter.jsonl").exists()
    assert await shipper.stop() == 0
    registry = orjson.loads((tmp_path / "state" / "registry.json").read_bytes())
    (entry,) = registry["files"].values()
    assert entry["offset"] == log.stat().st_size


async def test_only_failed_items_are_retried_until_they_succeed(
    tmp_path: Path, es_client: AsyncElasticsearch, shippers
) -> None:
    """Events for a write-blocked daily index wait; the others are stored once, not re-sent."""
    log = tmp_path / "app.jsonl"
    log.touch()
    shipper = shippers()
    shipper.start()
    await wait_for_metric(shipper, "shipper_elasticsearch_up", lambda up: up == 1)
    blocked = "jarvis-logs-2024.01.13"
    await es_client.indices.create(index=blocked, settings={"index.blocks.write": True})
    days = {"blocked": 1705123456.0, "open": 1705123456.0 + 86400}
    lines = [{"timestamp": days[day] + n, "marker": f"{day}-{n}"} for n in range(5) for day in days]
    log.write_bytes(b"".join(orjson.dumps(line) + b"\n" for line in lines))

    waiting = await wait_for_metric(
        shipper, "shipper_events_retried_total", lambda retried: retried >= 10
    )
    assert waiting["shipper_events_dead_lettered_total"] == 0
    assert waiting["shipper_lag_bytes"] > 0
    assert waiting['shipper_bulk_requests_total{outcome="partial"}'] >= 1
    assert_exactly_once(await markers_in_elasticsearch(es_client), [f"open-{n}" for n in range(5)])

    await es_client.indices.put_settings(index=blocked, settings={"index.blocks.write": False})
    await shipper.wait_until_caught_up(10)
    assert_exactly_once(await markers_in_elasticsearch(es_client), [m["marker"] for m in lines])
    # 409s count as shipped: had a stored item been sent again, this would exceed 10.
    assert (await shipper.metrics())["shipper_events_shipped_total"] == 10
    assert await shipper.stop() == 0
