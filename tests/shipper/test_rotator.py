"""Rotator against real files: rename by size, gzip only what Elasticsearch acknowledged."""

from __future__ import annotations

import asyncio
import gzip
import os
import threading
from pathlib import Path

import orjson
import pytest

import shipper.rotator
import shipper.source.files
import shipper.source.tailer
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

        # Lines read and not acknowledged yet (Elasticsearch down), and every message read.
        self.waiting: list[LineGroup] = []
        self.messages: list[str] = []

    async def read(self, acknowledge: bool) -> None:
        """One round of the tailer; the lines it read are stored, or left waiting."""
        await self.tailer.poll_once()
        while not self.queue.empty():
            group = self.queue.get_nowait()
            assert group is not None
            self.messages.extend(orjson.loads(line.data)["message"] for line in group.lines)
            if acknowledge:
                acknowledge_group(group)
            else:
                self.waiting.append(group)

    def acknowledge_waiting(self) -> None:
        for group in self.waiting:
            acknowledge_group(group)
        self.waiting.clear()

    def files(self) -> list[str]:
        return sorted(p.name for p in self.path.parent.iterdir() if p.name.startswith("app"))


def acknowledge_group(group: LineGroup) -> None:
    group.progress.acknowledge_all(line.start for line in group.lines)


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
    await h.read(acknowledge=True)  # the tailer finds the plain backup gone
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


async def test_a_line_written_to_a_backup_after_it_was_read_is_read_before_the_backup_goes(
    tmp_path: Path,
) -> None:
    """A writer that has not reopened its file yet appends to the renamed one: the backup
    read and stored before that is no longer settled."""
    h = Harness(tmp_path)
    write_lines(h.path, 0, 5)
    await h.rotator.check_once()
    await h.read(acknowledge=True)  # read, let go and stored
    await h.read(acknowledge=True)
    write_lines(tmp_path / "app.jsonl.1", 5, 1)  # the late line
    await h.rotator.check_once()
    assert h.files() == ["app.jsonl.1"]
    await h.read(acknowledge=True)
    await h.read(acknowledge=True)
    await h.rotator.check_once()
    assert h.files() == ["app.jsonl.1.gz"]
    assert h.messages == [f"line {n}" for n in range(6)]
    await h.read(acknowledge=True)
    assert len(h.registry) == 0


async def test_backups_deleted_while_the_tailer_looks_at_the_files_leave_no_lag_behind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The rotator deletes stored backups while a round of the tailer has listed them and
    not yet decided what they are: they are not taken for new files never read."""
    h = Harness(tmp_path, keep=1)
    for round_number in range(3):
        write_lines(h.path, round_number * 10, 5)
        await h.rotator.check_once()
        await h.read(acknowledge=False)  # Elasticsearch is down: the backups are held
    h.acknowledge_waiting()  # it is back
    await h.read(acknowledge=True)
    assert h.files() == ["app.jsonl.1", "app.jsonl.2", "app.jsonl.3"]

    listed, resume = threading.Event(), threading.Event()
    scan = shipper.source.tailer.scan

    def scan_then_wait(*args: object) -> shipper.source.files.Scan:
        found = scan(*args)  # type: ignore[arg-type]
        listed.set()
        resume.wait(10)
        return found

    monkeypatch.setattr(shipper.source.tailer, "scan", scan_then_wait)
    looking = asyncio.create_task(h.tailer.poll_once())
    await asyncio.to_thread(listed.wait, 10)
    await h.rotator.check_once()  # .2 and .3 deleted, .1 compressed
    resume.set()
    await looking
    monkeypatch.undo()

    assert h.files() == ["app.jsonl.1.gz"]
    assert h.registry.lag().lag_bytes == 0
    await h.read(acknowledge=True)
    await h.read(acknowledge=True)
    assert h.registry.lag().lag_bytes == 0
    assert len(h.registry) == 0
    assert h.messages == [f"line {n}" for r in range(3) for n in range(r * 10, r * 10 + 5)]


async def test_a_fifo_named_like_a_backup_is_neither_held_back_nor_opened(tmp_path: Path) -> None:
    h = Harness(tmp_path, keep=3)
    os.mkfifo(tmp_path / "app.jsonl.1")
    write_lines(h.path, 0, 5)
    await asyncio.wait_for(h.rotator.check_once(), 10)  # the FIFO shifts to .2
    await asyncio.wait_for(h.read(acknowledge=True), 10)
    await asyncio.wait_for(h.read(acknowledge=True), 10)
    await asyncio.wait_for(h.rotator.check_once(), 10)
    assert h.files() == ["app.jsonl.1.gz", "app.jsonl.2"]
    assert h.metrics.files_held_back.get({}) == 0
    assert h.messages == [f"line {n}" for n in range(5)]


async def test_a_link_named_like_a_backup_is_never_compressed_into_the_log_directory(
    tmp_path: Path,
) -> None:
    """Whoever can write to the log directory could link ``app.jsonl.1`` to a file only the
    shipper may read: compressing it would put its text in a ``.gz`` there, theirs to read.
    The link is shifted like any backup, and never read, compressed nor held back."""
    secret = tmp_path / "outside" / "secret.jsonl"
    secret.parent.mkdir()
    write_lines(secret, 100, 3)
    secret.chmod(0o600)
    h = Harness(tmp_path, keep=3)
    os.symlink(secret, tmp_path / "app.jsonl.1")
    write_lines(h.path, 0, 5)
    await asyncio.wait_for(h.rotator.check_once(), 10)  # the link shifts to .2
    for _ in range(3):
        await asyncio.wait_for(h.read(acknowledge=True), 10)
        await asyncio.wait_for(h.rotator.check_once(), 10)
    assert h.files() == ["app.jsonl.1.gz", "app.jsonl.2"]
    assert (tmp_path / "app.jsonl.2").is_symlink()
    with gzip.open(tmp_path / "app.jsonl.1.gz") as compressed:
        assert b"line 10" not in compressed.read()
    assert h.messages == [f"line {n}" for n in range(5)]
    assert h.metrics.files_held_back.get({}) == 0


async def test_a_live_path_that_is_a_link_is_not_rotated(tmp_path: Path) -> None:
    """Rotating renames the live file: renamed, a link would become a backup read through it."""
    target = tmp_path / "elsewhere.jsonl"
    write_lines(target, 0, 5)
    h = Harness(tmp_path)
    os.symlink(target, h.path)
    await asyncio.wait_for(h.rotator.check_once(), 10)
    assert h.files() == ["app.jsonl"]
    assert h.path.is_symlink()
    assert h.metrics.files_rotated.get({}) == 0


async def test_a_link_put_where_a_compression_writes_is_never_written_through(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The compression's temp file is in the log directory: a link put there (to a file only
    the shipper may write), even right after the stale temps are cleared, as a loop racing the
    rotator would, must not have its target overwritten. The compression waits a round."""
    victim = tmp_path / "outside" / "passwd"
    victim.parent.mkdir()
    victim.write_text("root:x:0:0\n")
    temp = tmp_path / "app.jsonl.1.gz.tmp"
    clear_stale_temps = shipper.rotator._remove_stale_temps

    def cleared_then_planted(base: str) -> None:
        clear_stale_temps(base)
        if not os.path.lexists(temp):
            os.symlink(victim, temp)

    h = Harness(tmp_path, keep=3)
    write_lines(h.path, 0, 5)
    await asyncio.wait_for(h.rotator.check_once(), 10)
    await asyncio.wait_for(h.read(acknowledge=True), 10)
    await asyncio.wait_for(h.read(acknowledge=True), 10)
    monkeypatch.setattr(shipper.rotator, "_remove_stale_temps", cleared_then_planted)
    await asyncio.wait_for(h.rotator.check_once(), 10)
    assert victim.read_text() == "root:x:0:0\n"
    assert h.files() == ["app.jsonl.1"]  # still plain; the link is gone with the failed try
    monkeypatch.setattr(shipper.rotator, "_remove_stale_temps", clear_stale_temps)
    await asyncio.wait_for(h.rotator.check_once(), 10)
    assert h.files() == ["app.jsonl.1.gz"]
    assert victim.read_text() == "root:x:0:0\n"


async def test_a_compressed_backup_is_no_more_readable_than_its_log(tmp_path: Path) -> None:
    h = Harness(tmp_path, keep=3)
    write_lines(h.path, 0, 5)
    h.path.chmod(0o640)
    await asyncio.wait_for(h.rotator.check_once(), 10)
    await asyncio.wait_for(h.read(acknowledge=True), 10)
    await asyncio.wait_for(h.read(acknowledge=True), 10)
    await asyncio.wait_for(h.rotator.check_once(), 10)
    assert h.files() == ["app.jsonl.1.gz"]
    assert (tmp_path / "app.jsonl.1.gz").stat().st_mode & 0o777 == 0o640
    with gzip.open(tmp_path / "app.jsonl.1.gz") as compressed:
        assert compressed.read().count(b"\n") == 5
