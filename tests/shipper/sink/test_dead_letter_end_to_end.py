"""The dead-letter file, last resort of the real ``jarvis-shipper``: it takes only what
Elasticsearch refuses even as a fallback (here, lines for a day whose index is closed), counts
it done once on disk, and while its disk is full keeps those lines unacknowledged, says so, and
writes them when space returns."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
from elasticsearch import AsyncElasticsearch
from shipper_harness import (
    ShipperProcess,
    assert_exactly_once,
    markers_in_elasticsearch,
    wait_for_metric,
)
from support.small_disk import SmallDisk

CLOSED_DAY = "jarvis-logs-2024.01.14"
OPEN_DAY = 1705123456.0  # 2024-01-13
DISK_ERRORS = 'shipper_disk_errors_total{target="dead_letter"}'


async def close_a_day(client: AsyncElasticsearch) -> None:
    await client.indices.create(index=CLOSED_DAY)
    await client.indices.close(index=CLOSED_DAY)


def lines_with_one_for_the_closed_day() -> list[dict[str, Any]]:
    lines = [{"timestamp": OPEN_DAY + n, "marker": f"ok-{n}"} for n in range(6)]
    lines.insert(3, {"timestamp": OPEN_DAY + 86400, "level": "ERROR", "marker": "closed"})
    return lines


def write(log: Path, lines: list[dict[str, Any]]) -> None:
    with log.open("ab") as stream:
        stream.write(b"".join(orjson.dumps(line) + b"\n" for line in lines))


def records(path: Path) -> list[dict[str, Any]]:
    return [orjson.loads(raw) for raw in path.read_bytes().splitlines()]


async def assert_still_running(shipper: ShipperProcess) -> None:
    assert shipper.process is not None and shipper.process.poll() is None, shipper.own_logs()


async def test_a_line_refused_even_as_a_fallback_is_dead_lettered_and_counted_done(
    tmp_path: Path, es_client: AsyncElasticsearch, shippers
) -> None:
    await close_a_day(es_client)
    lines = lines_with_one_for_the_closed_day()
    log = tmp_path / "app.jsonl"
    write(log, lines)
    shipper = shippers()
    shipper.start()
    await shipper.status_port()
    await shipper.wait_until_caught_up(len(lines))
    metrics = await shipper.metrics()
    assert metrics["shipper_events_dead_lettered_total"] == 1
    assert metrics["shipper_events_shipped_total"] == 6
    assert metrics["shipper_dead_letter_bytes_total"] > 0
    assert_exactly_once(await markers_in_elasticsearch(es_client), [f"ok-{n}" for n in range(6)])
    (record,) = records(tmp_path / "state" / "dead-letter.jsonl")
    assert record["status"] == 400 and record["reason"]["type"] == "index_closed_exception"
    assert record["index"] == CLOSED_DAY
    # What was tried last: the fallback, the line whole in it, ready to be replayed.
    assert record["event"]["tags"] == ["_mapping_fallback"]
    assert orjson.loads(record["event"]["event"]["original"])["marker"] == "closed"
    assert await shipper.stop() == 0
    # Dead-lettered counts as done: the registry is past it, a restart ships nothing more.
    registry = orjson.loads((tmp_path / "state" / "registry.json").read_bytes())
    (entry,) = registry["files"].values()
    assert entry["offset"] == log.stat().st_size


async def test_a_full_dead_letter_disk_holds_the_line_back_until_space_returns(
    tmp_path: Path, small_disk: SmallDisk, es_client: AsyncElasticsearch, shippers
) -> None:
    await close_a_day(es_client)
    dead_letter = small_disk.path / "dead-letter.jsonl"
    log = tmp_path / "app.jsonl"
    log.touch()
    shipper = shippers(dead_letter=str(dead_letter))
    shipper.start()
    await wait_for_metric(shipper, "shipper_elasticsearch_up", lambda up: up == 1)
    small_disk.fill()
    lines = lines_with_one_for_the_closed_day()
    write(log, lines)

    failing = await wait_for_metric(shipper, DISK_ERRORS, lambda errors: errors >= 2)
    await assert_still_running(shipper)
    assert failing["shipper_events_dead_lettered_total"] == 0
    assert failing["shipper_lag_bytes"] > 0, "the refused line is not acknowledged"
    health = await shipper.health()
    assert health["status"] == "degraded"
    assert health["disk_errors"]["dead_letter"]["path"] == str(dead_letter)
    # The other lines do not wait for it, and no half record is left behind.
    assert_exactly_once(await markers_in_elasticsearch(es_client), [f"ok-{n}" for n in range(6)])
    assert not dead_letter.exists() or dead_letter.stat().st_size == 0

    small_disk.free_up()
    await shipper.wait_until_caught_up(len(lines))
    metrics = await shipper.metrics()
    assert metrics["shipper_events_dead_lettered_total"] == 1
    assert metrics["shipper_events_shipped_total"] == 6
    (record,) = records(dead_letter)
    assert orjson.loads(record["event"]["event"]["original"])["marker"] == "closed"
    assert (await shipper.health())["status"] == "ok"
    assert any(entry.get("message") == "disk writes work again" for entry in shipper.own_logs())
    await assert_still_running(shipper)
    assert await shipper.stop() == 0
