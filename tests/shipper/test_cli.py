"""``python -m shipper`` as a real process against a real Elasticsearch: every line written
is stored exactly once, through steady load, kill -9 and restart, SIGTERM."""

from __future__ import annotations

import asyncio
from pathlib import Path

from elasticsearch import AsyncElasticsearch
from shipper_harness import (
    assert_exactly_once,
    markers_in_elasticsearch,
    markers_on_disk,
    run_writer,
)


async def test_steady_writing_of_100k_lines_is_stored_exactly_once(
    tmp_path: Path, es_client: AsyncElasticsearch, shippers
) -> None:
    shipper = shippers()
    shipper.start()
    await shipper.status_port()
    writer = await run_writer(tmp_path / "app.jsonl", 100_000, "steady")
    assert await writer.wait() == 0
    written = markers_on_disk(tmp_path)
    await shipper.wait_until_caught_up(len(written))
    assert_exactly_once(await markers_in_elasticsearch(es_client), written)
    assert await shipper.stop() == 0


async def test_kill_9_mid_batch_then_restart_loses_and_duplicates_nothing(
    tmp_path: Path, es_client: AsyncElasticsearch, shippers
) -> None:
    shipper = shippers(batch_size="500")
    shipper.start()
    await shipper.status_port()
    writer = await run_writer(tmp_path / "app.jsonl", 40_000, "kill9")
    for _ in range(600):
        metrics = await shipper.metrics()
        if metrics["shipper_events_shipped_total"] >= 2_000:
            break
        await asyncio.sleep(0.05)
    shipper.kill()
    assert await writer.wait() == 0
    shipper.start()
    await shipper.status_port()
    written = markers_on_disk(tmp_path)
    # The restarted shipper resumes from the registry: it need not ship everything again.
    await shipper.wait_until_caught_up(1)
    for _ in range(600):
        if len(await markers_in_elasticsearch(es_client)) >= len(written):
            break
        await asyncio.sleep(0.2)
    await shipper.wait_until_caught_up(1)
    assert_exactly_once(await markers_in_elasticsearch(es_client), written)
    assert await shipper.stop() == 0


async def test_sigterm_saves_the_registry_and_exits_0(
    tmp_path: Path, es_client: AsyncElasticsearch, shippers
) -> None:
    shipper = shippers()
    shipper.start()
    await shipper.status_port()
    writer = await run_writer(tmp_path / "app.jsonl", 1_000, "term")
    assert await writer.wait() == 0
    await shipper.wait_until_caught_up(1_000)
    assert await shipper.stop() == 0
    registry = (tmp_path / "state" / "registry.json").read_text()
    assert str((tmp_path / "app.jsonl").stat().st_size) in registry
    # A second run finds nothing new to ship.
    shipper.start()
    await shipper.status_port()
    await asyncio.sleep(1.0)
    metrics = await shipper.metrics()
    assert metrics["shipper_events_read_total"] == 0
    assert await shipper.stop() == 0
    assert_exactly_once(await markers_in_elasticsearch(es_client), markers_on_disk(tmp_path))
