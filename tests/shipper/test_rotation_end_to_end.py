"""Rotation while the writer runs at full speed, by us (rename) or by an outside tool
(copy-truncate), and a live file deleted and recreated: every line stored exactly once."""

from __future__ import annotations

import asyncio
import os
import shutil
from pathlib import Path

from elasticsearch import AsyncElasticsearch
from shipper_harness import (
    assert_exactly_once,
    backup_names,
    markers_in_elasticsearch,
    markers_on_disk,
    run_writer,
    wait_for_metric,
    writer_markers,
)


async def wait_for_size(path: Path, size: int) -> None:
    for _ in range(1000):
        if await asyncio.to_thread(lambda: path.exists() and path.stat().st_size >= size):
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"{path} never reached {size} bytes")


def copy_truncate(path: Path) -> None:
    """What logrotate's copytruncate does."""
    shutil.copyfile(path, str(path) + ".1")
    os.truncate(path, 0)


async def test_rotation_by_size_at_full_speed_stores_every_line_once(
    tmp_path: Path, es_client: AsyncElasticsearch, shippers
) -> None:
    shipper = shippers(rotate_size="400000", keep="3")
    shipper.start()
    await shipper.status_port()
    writer = await run_writer(
        tmp_path / "app.jsonl", 30_000, "rot", "--pause-every", "2000", "--pause", "0.05"
    )
    assert await writer.wait() == 0
    await shipper.wait_until_caught_up(30_000)
    metrics = await wait_for_metric(shipper, "shipper_files_held_back", lambda held: held == 0)
    assert metrics["shipper_files_rotated_total"] >= 4
    assert_exactly_once(await markers_in_elasticsearch(es_client), writer_markers("rot", 30_000))
    # Only compressed backups remain, no more than --keep of them.
    backups = backup_names(tmp_path)
    assert backups and len(backups) <= 3
    assert all(name.endswith(".gz") for name in backups)
    assert await shipper.stop() == 0


async def test_copy_truncate_by_an_outside_tool_stores_every_line_once(
    tmp_path: Path, es_client: AsyncElasticsearch, shippers
) -> None:
    log = tmp_path / "app.jsonl"
    shipper = shippers()
    shipper.start()
    await shipper.status_port()
    writer = await run_writer(log, 20_000, "ct", "--pause-every", "1000", "--pause", "0.05")
    await wait_for_size(log, 2_000_000)
    await asyncio.to_thread(copy_truncate, log)
    assert await writer.wait() == 0
    # Lines written between the copy and the truncation are lost by copytruncate itself:
    # what must be stored is what is on disk, in the copy or the live file; the shipper may
    # also have read some of those lost lines before the truncation.
    written = markers_on_disk(tmp_path)
    await shipper.wait_until_caught_up(len(written))
    copy = [name for name in backup_names(tmp_path) if name.startswith("app.jsonl.1")]
    assert copy, "the copy made by the outside tool is gone"
    assert_exactly_once(
        await markers_in_elasticsearch(es_client),
        written,
        may_also_hold=writer_markers("ct", 20_000),
    )
    assert await shipper.stop() == 0


async def test_live_file_deleted_and_recreated_stores_every_line_once(
    tmp_path: Path, es_client: AsyncElasticsearch, shippers
) -> None:
    log = tmp_path / "app.jsonl"
    shipper = shippers()
    shipper.start()
    await shipper.status_port()
    writer = await run_writer(log, 20_000, "del", "--pause-every", "1000", "--pause", "0.05")
    await wait_for_size(log, 2_000_000)
    await wait_for_metric(shipper, "shipper_events_read_total", lambda read: read > 0)
    await asyncio.to_thread(os.remove, log)
    assert await writer.wait() == 0
    await shipper.wait_until_caught_up(20_000)
    # Lines written to the deleted file were read through the descriptor the shipper held.
    assert_exactly_once(await markers_in_elasticsearch(es_client), writer_markers("del", 20_000))
    assert len(markers_on_disk(tmp_path)) < 20_000
    assert await shipper.stop() == 0
