"""The progress line: a shipper working through a backlog says how fast and how far behind it
is; an idle one says nothing."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from elasticsearch import AsyncElasticsearch
from shipper_harness import markers_on_disk, run_writer

from shipper.metrics import ShipperMetrics
from shipper.progress import ProgressReporter
from shipper.registry import FileRegistry

FIELDS = {
    "events_per_second",
    "events_shipped",
    "lag_bytes",
    "lag_seconds_estimated",
    "files_watched",
}


async def test_a_shipper_working_through_a_backlog_logs_its_progress(
    tmp_path: Path, es_client: AsyncElasticsearch, shippers
) -> None:
    writer = await run_writer(tmp_path / "app.jsonl", 30_000, "backlog")
    assert await writer.wait() == 0
    shipper = shippers(progress_interval="0.2", batch_size="500")
    shipper.start()
    await shipper.wait_until_caught_up(len(markers_on_disk(tmp_path)))
    assert await shipper.stop() == 0
    progress = [line for line in shipper.own_logs() if line.get("logger") == "shipper.progress"]
    assert progress, shipper.own_logs()
    for line in progress:
        assert FIELDS <= line.keys()
        assert str(line["message"]).startswith("shipping: ")
        assert line["files_watched"] == 1
    # A running total: the last line may come before the last batch is acknowledged.
    shipped = [line["events_shipped"] for line in progress]
    assert shipped == sorted(shipped) and 0 < shipped[-1] <= 30_000
    busy = [line for line in progress if line["events_per_second"] > 0]
    assert busy and all(line["lag_bytes"] >= 0 for line in busy)


def test_nothing_is_logged_while_idle_and_a_line_once_events_are_shipped(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    metrics, registry = ShipperMetrics.create(), FileRegistry(tmp_path / "registry.json")
    now = [0.0]
    reporter = ProgressReporter(metrics, registry, interval=10, clock=lambda: now[0])
    caplog.set_level(logging.INFO, logger="shipper.progress")
    now[0] = 10.0
    assert reporter.report() is None, "idle: nothing shipped, no lag"

    progress = registry.get_or_create("abc", "/logs/app.jsonl")
    progress.size = 3000
    progress.track(0, 1000)
    progress.acknowledge(0)
    metrics.events_shipped.add({}, 50)
    metrics.bytes_shipped.add({}, 1000)
    now[0] = 20.0
    figures = reporter.report()
    assert figures == {
        "events_per_second": 5.0,
        "events_shipped": 50,
        "lag_bytes": 2000,
        # 2000 bytes behind at 100 bytes/s.
        "lag_seconds_estimated": 20.0,
        "files_watched": 1,
    }
    assert caplog.messages == [
        "shipping: 5 events/s, 50 shipped, 2.0 KiB behind (~20 s at this rate), 1 file"
    ]

    now[0] = 30.0
    assert reporter.report() is None, "a lag that does not move, nothing shipped: quiet"
