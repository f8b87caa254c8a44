"""Rotator against real files: rename by size, gzip only what Elasticsearch acknowledged."""

from __future__ import annotations

import asyncio
import gzip
from pathlib import Path

import orjson

from shipper.metrics import ShipperMetrics
from shipper.registry import FileRegistry
from shipper.rotator import Rotator
from shipper.source.tailer import LineGroup, Tailer


class Harness:
    def __init__(self, tmp_path: Path, keep: int = 2) -> None:
        self.path = tmp_path / "app.jsonl"
        self.metrics = ShipperMetrics.create()
        self.registry = FileRegistry(tmp_path / "registry.json")
        self.queue: asyncio.Queue[LineGroup | None] = asyncio.Queue()
        self.tailer = Tailer(
            str(self.path),
            self.registry,
            self.queue,
            self.metrics,
            max_line_bytes=1000,
            read_chunk_bytes=4096,
            poll_interval=0.01,
            close_inactive=0.0,
        )
        self.rotator = Rotator(
            str(self.path),
            self.registry,
            self.tailer.settled,
            self.metrics,
            rotate_size=100,
            keep=keep,
            interval=0.01,
        )

    async def read(self, acknowledge: bool) -> None:
        await self.tailer.poll_once()
        while not self.queue.empty():
            group = self.queue.get_nowait()
            assert group is not None
            for line in group.lines:
                if acknowledge:
                    group.progress.acknowledge(line.start)

    def files(self) -> list[str]:
        return sorted(p.name for p in self.path.parent.iterdir() if p.name.startswith("app"))


def write_lines(path: Path, first: int, count: int) -> None:
    with open(path, "ab") as stream:
        for n in range(first, first + count):
            stream.write(orjson.dumps({"timestamp": 1.0, "message": f"line {n}"}) + b"\n")


def gunzip_text(path: Path) -> str:
    with gzip.open(path, "rt") as stream:
        return stream.read()


async def test_a_full_live_file_is_renamed_then_compressed_once_acknowledged(
    tmp_path: Path,
) -> None:
    h = Harness(tmp_path)
    write_lines(h.path, 0, 5)
    content = h.path.read_text()
    await h.rotator.check_once()
    assert h.files() == ["app.jsonl.1"]
    await h.read(acknowledge=True)  # read to the end, let go, acknowledged
    await h.read(acknowledge=True)
    await h.rotator.check_once()
    assert h.files() == ["app.jsonl.1.gz"]
    assert gunzip_text(tmp_path / "app.jsonl.1.gz") == content
    assert h.metrics.files_rotated.get({}) == 1
    assert h.metrics.files_held_back.get({}) == 0
    assert len(h.registry) == 0


async def test_unacknowledged_backups_are_held_back_uncompressed_and_never_deleted(
    tmp_path: Path,
) -> None:
    h = Harness(tmp_path, keep=1)
    for round_number in range(3):
        write_lines(h.path, round_number * 10, 5)
        await h.read(acknowledge=False)  # Elasticsearch is down
        await h.rotator.check_once()
    await h.read(acknowledge=False)
    await h.rotator.check_once()
    assert h.files() == ["app.jsonl.1", "app.jsonl.2", "app.jsonl.3"]
    assert h.metrics.files_held_back.get({}) == 3


async def test_compressed_backups_past_keep_are_deleted(tmp_path: Path) -> None:
    h = Harness(tmp_path, keep=2)
    for round_number in range(4):
        write_lines(h.path, round_number * 10, 5)
        await h.rotator.check_once()
        await h.read(acknowledge=True)
        await h.read(acknowledge=True)
        await h.rotator.check_once()
    assert h.files() == ["app.jsonl.1.gz", "app.jsonl.2.gz"]
    # The newest backup holds the last round's lines.
    assert "line 30" in gunzip_text(tmp_path / "app.jsonl.1.gz")


async def test_temp_files_of_a_compression_cut_short_are_cleaned_up(tmp_path: Path) -> None:
    h = Harness(tmp_path)
    write_lines(h.path, 0, 5)
    content = h.path.read_text()
    await h.rotator.check_once()
    (tmp_path / "app.jsonl.3.gz.tmp").write_bytes(b"half a gzip")  # before a shift
    await h.read(acknowledge=True)
    await h.read(acknowledge=True)
    await h.rotator.check_once()
    assert h.files() == ["app.jsonl.1.gz"]
    assert gunzip_text(tmp_path / "app.jsonl.1.gz") == content


async def test_a_backup_starting_like_the_live_file_is_held_back_until_its_own_lines_are_stored(
    tmp_path: Path,
) -> None:
    """The live file, all shipped, shares the backup's first line: that settles nothing."""
    h = Harness(tmp_path)
    header = b'{"message": "log file opened"}\n'
    h.path.write_bytes(header)
    write_lines(h.path, 0, 5)
    await h.rotator.check_once()
    await h.read(acknowledge=False)  # the backup read, Elasticsearch has not answered
    h.path.write_bytes(header)
    await h.read(acknowledge=True)  # the new live file read and stored
    await h.read(acknowledge=True)
    await h.rotator.check_once()
    assert h.files() == ["app.jsonl", "app.jsonl.1"]
    assert h.metrics.files_held_back.get({}) == 1
