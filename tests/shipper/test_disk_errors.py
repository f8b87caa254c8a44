"""A full or failing disk never stops the shipper: it keeps shipping, says so (/health, the
metric), retries, and catches up when space returns; nothing half-written is left behind and
nothing unshipped is compressed or deleted.

The end-to-end test runs the real ``jarvis-shipper`` with its log files and its state dir on
two small tmpfs (the ./logs and state volumes of the Compose stack), filled by the kernel's
own rules; the others inject the errors a real disk cannot be made to give on demand (EIO,
EDQUOT).
"""

from __future__ import annotations

import asyncio
import errno
import gzip
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest
from elasticsearch import AsyncElasticsearch
from shipper_harness import (
    ShipperProcess,
    assert_exactly_once,
    backup_names,
    markers_in_elasticsearch,
    run_writer,
    wait_for_metric,
    writer_markers,
)
from support.small_disk import SmallDisk, mounted_small_disk

from shipper.acknowledgements import Acknowledgements
from shipper.disk_health import DiskHealth
from shipper.metrics import ShipperMetrics
from shipper.registry import FileRegistry
from shipper.rotator import Rotator

# A seed line is about 330 bytes: 1,500 lines stay under the rotation size, 500 more cross it.
ROTATE_SIZE = 600_000
BEFORE, DURING = 1500, 500


async def wait_for_health(
    shipper: ShipperProcess, accept: Callable[[dict[str, Any]], bool], timeout: float = 60.0
) -> dict[str, Any]:
    health: dict[str, Any] = {}
    for _ in range(int(timeout / 0.1)):
        assert shipper.process is not None and shipper.process.poll() is None, "shipper died"
        health = await shipper.health()
        if accept(health):
            return health
        await asyncio.sleep(0.1)
    raise AssertionError(f"health never as expected: {health}")


def file_names(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


def temp_files(*directories: Path) -> list[str]:
    return sorted(p.name for d in directories for p in d.iterdir() if p.name.endswith(".tmp"))


def failing(*targets: str) -> Callable[[dict[str, Any]], bool]:
    return lambda health: sorted(health["disk_errors"]) == sorted(targets)


async def test_a_full_disk_never_stops_the_shipper_and_it_catches_up_when_space_returns(
    tmp_path: Path, small_disk: SmallDisk, es_client: AsyncElasticsearch, shippers
) -> None:
    logs = small_disk.path
    log = logs / "app.jsonl"
    with mounted_small_disk(tmp_path / "state", "1m") as state_disk:
        registry = state_disk.path / "registry.json"
        shipper = shippers(log, rotate_size=str(ROTATE_SIZE), keep="3")
        shipper.start()
        writer = await run_writer(log, BEFORE, "before")
        assert await writer.wait() == 0
        await shipper.wait_until_caught_up(BEFORE)
        assert await shipper.stop() == 0
        saved = registry.read_bytes()

        # While it is down: lines enough to rotate, then not a byte left on either volume.
        writer = await run_writer(log, DURING, "during")
        assert await writer.wait() == 0
        small_disk.fill()
        state_disk.fill()

        # It starts on the full disk, ships, rotates, and can neither save nor compress.
        shipper.start()
        health = await wait_for_health(shipper, failing("backup", "registry"))
        assert health["status"] == "degraded"
        assert "No space left" in health["disk_errors"]["registry"]["error"]
        assert health["disk_errors"]["backup"]["path"] == str(logs / "app.jsonl.1")
        metrics = await shipper.metrics()
        assert metrics['shipper_disk_errors_total{target="registry"}'] > 0
        assert metrics['shipper_disk_errors_total{target="backup"}'] > 0
        await shipper.wait_until_caught_up(DURING)
        # The previous registry is whole, the backup kept plain. (A compression may be under
        # way right now, its temp file with it: the check for leftovers comes after the stop.)
        assert registry.read_bytes() == saved
        assert backup_names(logs) == ["app.jsonl.1"]
        assert shipper.process is not None and shipper.process.poll() is None

        # Stopped with the disk still full: the last save fails, is logged, and exit is 0.
        assert await shipper.stop() == 0
        messages = [str(line.get("message")) for line in shipper.own_logs()]
        assert any("registry not saved at shutdown" in m for m in messages), messages
        assert registry.read_bytes() == saved
        assert temp_files(logs, state_disk.path) == []

        # Restarted still full: the lines the registry missed go again (stored once).
        shipper.start()
        await wait_for_health(shipper, failing("backup", "registry"))
        small_disk.free_up()
        state_disk.free_up()
        await wait_for_health(shipper, lambda health: health["status"] == "ok")
        await wait_for_metric(shipper, "shipper_files_held_back", lambda held: held == 0)
        await shipper.wait_until_caught_up(DURING)

        assert_exactly_once(
            await markers_in_elasticsearch(es_client),
            writer_markers("before", BEFORE) + writer_markers("during", DURING),
        )
        assert backup_names(logs) == ["app.jsonl.1.gz"]
        with gzip.open(logs / "app.jsonl.1.gz") as backup:
            assert len(backup.read().splitlines()) == BEFORE + DURING
        assert registry.read_bytes() != saved
        orjson.loads(registry.read_bytes())
        assert temp_files(logs, state_disk.path) == []
        messages = [str(line.get("message")) for line in shipper.own_logs()]
        assert "disk writes work again" in messages
        assert await shipper.stop() == 0


def failing_with(error: int, calls: list[int]) -> Callable[..., None]:
    def fail(*args: object, **kwargs: object) -> None:
        calls.append(error)
        raise OSError(error, "injected")

    return fail


async def test_a_registry_save_failing_on_eio_keeps_the_previous_file_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    registry = FileRegistry(tmp_path / "registry.json")
    progress = registry.get_or_create("fp", "/logs/app.jsonl")
    await registry.save()
    saved = registry.path.read_bytes()
    disk = DiskHealth(ShipperMetrics.create())
    acknowledgements = Acknowledgements(registry, disk)
    progress.track(0, 10)
    progress.acknowledge(0)

    calls: list[int] = []
    monkeypatch.setattr("shipper.registry.os.fsync", failing_with(errno.EIO, calls))
    assert await acknowledgements.save() is False
    assert calls, "the injected error was never hit"
    assert registry.path.read_bytes() == saved
    assert file_names(tmp_path) == ["registry.json"]
    assert disk.report()["registry"]["error"] == "injected"

    monkeypatch.undo()
    assert await acknowledgements.save() is True
    assert orjson.loads(registry.path.read_bytes())["files"]["fp"]["offset"] == 10
    assert disk.ok


async def test_a_compression_failing_on_edquot_keeps_the_plain_backup_and_no_temp_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Over quota half-way through the gzip: the temp file goes, the backup stays, the
    registry keeps it, and the next round compresses it."""
    backup = tmp_path / "app.jsonl.1"
    backup.write_bytes(b'{"n": 1}\n' * 10_000)
    content = backup.read_bytes()
    metrics = ShipperMetrics.create()
    disk = DiskHealth(metrics)
    registry = FileRegistry(tmp_path / "registry.json")
    forgotten: list[str] = []
    monkeypatch.setattr(registry, "forget", forgotten.append)
    rotator = Rotator(
        str(tmp_path / "app.jsonl"),
        registry,
        lambda fingerprint: True,
        metrics,
        rotate_size=1 << 30,
        keep=2,
        interval=0.01,
        disk=disk,
    )

    def half_then_fail(source: Any, sink: Any, length: int = 0) -> None:
        sink.write(source.read(len(content) // 2))
        raise OSError(errno.EDQUOT, "Disk quota exceeded")

    monkeypatch.setattr("shipper.rotator.shutil.copyfileobj", half_then_fail)
    await rotator.check_once()
    assert file_names(tmp_path) == ["app.jsonl.1"]
    assert backup.read_bytes() == content
    assert forgotten == []
    assert disk.report()["backup"]["error"] == "Disk quota exceeded"
    assert metrics.disk_errors.get({"target": "backup"}) == 1

    monkeypatch.undo()
    await rotator.check_once()
    assert file_names(tmp_path) == ["app.jsonl.1.gz"]
    assert gzip.decompress((tmp_path / "app.jsonl.1.gz").read_bytes()) == content
    assert disk.ok


async def test_a_first_start_on_a_full_disk_reports_it_and_ships_everything_once_space_returns(
    tmp_path: Path, small_disk: SmallDisk, es_client: AsyncElasticsearch, shippers
) -> None:
    """No registry yet, and no room to write one: the new file's identity cannot be made
    durable, which the tailer waits for before shipping a line under it; the shipper runs,
    says why, and ships the file when the registry can be saved."""
    log = small_disk.path / "app.jsonl"
    with mounted_small_disk(tmp_path / "state", "1m") as state_disk:
        writer = await run_writer(log, 300, "first")
        assert await writer.wait() == 0
        small_disk.fill()
        state_disk.fill()
        shipper = shippers(log)
        shipper.start()
        health = await wait_for_health(shipper, failing("registry"))
        assert health["status"] == "degraded"
        metrics = await shipper.metrics()
        assert metrics['shipper_disk_errors_total{target="registry"}'] > 0
        small_disk.free_up()
        state_disk.free_up()
        await shipper.wait_until_caught_up(300)
        await wait_for_health(shipper, lambda health: health["status"] == "ok")
        assert_exactly_once(await markers_in_elasticsearch(es_client), writer_markers("first", 300))
        assert await shipper.stop() == 0
