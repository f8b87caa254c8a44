"""Tailer against real files: rotation by rename, copy-truncate, deletion, restarts."""

from __future__ import annotations

import asyncio
import gzip
import os
import shutil
from pathlib import Path

import orjson

from shipper.metrics import ShipperMetrics
from shipper.registry import FileRegistry
from shipper.source.tailer import LineQueue, Tailer


class Harness:
    """A tailer over ``<tmp>/app.jsonl`` (or ``pattern``) and everything it hands downstream."""

    def __init__(self, tmp_path: Path, pattern: str | None = None) -> None:
        self.path = tmp_path / "app.jsonl"
        self.registry = FileRegistry(tmp_path / "state" / "registry.json")
        self.queue: LineQueue = asyncio.Queue()
        self.tailer = Tailer(
            pattern or str(self.path),
            self.registry,
            self.queue,
            ShipperMetrics.create(),
            max_line_bytes=1000,
            read_chunk_bytes=64,
            poll_interval=0.01,
            close_inactive=0.0,
        )

    async def poll(self) -> list[tuple[str, int, bytes]]:
        """Poll once; return (fingerprint, offset, line) handed downstream, acknowledging them."""
        await self.tailer.poll_once()
        out = []
        while not self.queue.empty():
            group = self.queue.get_nowait()
            assert group is not None
            for line in group.lines:
                out.append((group.progress.fingerprint, line.start, line.data))
                group.progress.acknowledge(line.start)
        return out


def line(n: int) -> bytes:
    return orjson.dumps({"timestamp": 1.0 + n, "message": f"line {n}"}) + b"\n"


def append(path: Path, *numbers: int) -> None:
    with open(path, "ab") as stream:
        for n in numbers:
            stream.write(line(n))


def append_raw(path: Path, data: bytes) -> None:
    with open(path, "ab") as stream:
        stream.write(data)


def gzip_file(source: Path, target: str) -> None:
    with open(source, "rb") as plain, gzip.open(target, "wb") as compressed:
        compressed.write(plain.read())


def texts(shipped: list[tuple[str, int, bytes]]) -> list[str]:
    return [orjson.loads(data)["message"] for _, _, data in shipped]


async def test_a_one_line_file_is_shipped(tmp_path: Path) -> None:
    h = Harness(tmp_path)
    append(h.path, 1)
    assert texts(await h.poll()) == ["line 1"]


async def test_a_file_not_created_yet_is_waited_for(tmp_path: Path) -> None:
    h = Harness(tmp_path)
    assert await h.poll() == []
    append(h.path, 1, 2)
    assert texts(await h.poll()) == ["line 1", "line 2"]


async def test_a_last_line_without_newline_waits_for_it(tmp_path: Path) -> None:
    h = Harness(tmp_path)
    append(h.path, 1)
    whole = line(2)
    append_raw(h.path, whole[:10])
    assert texts(await h.poll()) == ["line 1"]
    assert await h.poll() == []
    append_raw(h.path, whole[10:])
    assert texts(await h.poll()) == ["line 2"]


async def test_rename_rotation_reads_the_old_file_to_its_end(tmp_path: Path) -> None:
    h = Harness(tmp_path)
    writer = os.open(h.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT)  # the server's handle
    os.write(writer, line(1))
    assert texts(await h.poll()) == ["line 1"]
    os.rename(h.path, str(h.path) + ".1")
    os.write(writer, line(2))  # written before the server notices the rename
    os.close(writer)
    append(h.path, 3)  # the server's reopened file
    shipped = await h.poll()
    assert sorted(texts(shipped)) == ["line 2", "line 3"]
    assert len({fp for fp, _, _ in shipped}) == 2
    # The renamed file was let go once read (close_inactive=0) and is settled.
    fingerprint = next(fp for fp, _, data in shipped if b"line 2" in data)
    assert h.tailer.settled(fingerprint)
    assert await h.poll() == []


async def test_copy_truncate_finishes_old_lines_from_the_copy(tmp_path: Path) -> None:
    h = Harness(tmp_path)
    append(h.path, 1, 2)
    first = await h.poll()
    append(h.path, 3, 4)  # not read yet when the outside tool copies and truncates
    shutil.copyfile(h.path, str(h.path) + ".1")
    os.truncate(h.path, 0)
    append(h.path, 5)
    second = await h.poll()
    second += await h.poll()
    assert texts(first) == ["line 1", "line 2"]
    assert sorted(texts(second)) == ["line 3", "line 4", "line 5"]
    old_fingerprint = first[0][0]
    by_text = {orjson.loads(data)["message"]: (fp, offset) for fp, offset, data in second}
    # Same content, same identity: the copy's lines keep the ids they would have had.
    assert by_text["line 3"] == (old_fingerprint, len(line(1)) + len(line(2)))
    assert by_text["line 5"][0] != old_fingerprint and by_text["line 5"][1] == 0


async def test_a_file_rewritten_past_the_old_offset_is_read_from_zero(tmp_path: Path) -> None:
    """Same inode, new content longer than what was read: the fingerprint tells them apart."""
    h = Harness(tmp_path)
    append(h.path, 1)
    assert texts(await h.poll()) == ["line 1"]
    h.path.write_bytes(line(7) + line(8) + line(9))
    shipped = await h.poll() + await h.poll()
    assert texts(shipped) == ["line 7", "line 8", "line 9"]


async def test_a_deleted_file_is_read_to_its_end_and_its_successor_from_zero(
    tmp_path: Path,
) -> None:
    h = Harness(tmp_path)
    append(h.path, 1)
    await h.poll()
    append(h.path, 2)
    os.remove(h.path)
    append(h.path, 3)
    shipped = await h.poll() + await h.poll()
    assert sorted(texts(shipped)) == ["line 2", "line 3"]


async def test_a_restart_resumes_after_the_acknowledged_lines(tmp_path: Path) -> None:
    h = Harness(tmp_path)
    append(h.path, 1, 2)
    await h.poll()
    await h.registry.save()
    append(h.path, 3)
    again = Harness(tmp_path)
    await again.registry.load()
    assert texts(await again.poll()) == ["line 3"]


async def test_unacknowledged_lines_are_read_again_after_a_restart(tmp_path: Path) -> None:
    h = Harness(tmp_path)
    append(h.path, 1, 2, 3)
    await h.tailer.poll_once()
    read = []
    while not h.queue.empty():
        group = h.queue.get_nowait()
        assert group is not None
        read += [(group.progress, line) for line in group.lines]
    progress, second = read[1]
    progress.acknowledge(second.start)  # line 2 stored, line 1 not
    await h.registry.save()
    again = Harness(tmp_path)
    await again.registry.load()
    assert texts(await again.poll()) == ["line 1", "line 2", "line 3"]


async def test_a_compressed_backup_with_unacknowledged_lines_is_recovered(
    tmp_path: Path,
) -> None:
    h = Harness(tmp_path)
    append(h.path, 1)
    ((fingerprint, _, _),) = await h.poll()
    append(h.path, 2)
    await h.tailer.poll_once()  # line 2 read, never acknowledged
    await h.registry.save()
    # Someone else rotates and compresses the file while we are down.
    gzip_file(h.path, str(h.path) + ".1.gz")
    os.remove(h.path)
    again = Harness(tmp_path)
    await again.registry.load()
    shipped = await again.poll()
    assert [(fp, text) for (fp, _, _), text in zip(shipped, texts(shipped), strict=True)] == [
        (fingerprint, "line 2")
    ]
    assert await again.poll() == []


async def test_a_compressed_backup_unknown_to_the_registry_is_not_read(tmp_path: Path) -> None:
    h = Harness(tmp_path)
    append(h.path, 1)
    gzip_file(h.path, str(h.path) + ".1.gz")
    os.remove(h.path)
    assert await h.poll() == []


async def test_a_glob_follows_every_matching_file(tmp_path: Path) -> None:
    h = Harness(tmp_path, pattern=str(tmp_path / "*.jsonl"))
    append(tmp_path / "api.jsonl", 1)
    append(tmp_path / "worker.jsonl", 2)
    append(tmp_path / "notes.txt", 3)
    shipped = await h.poll()
    assert sorted(texts(shipped)) == ["line 1", "line 2"]
