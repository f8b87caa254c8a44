"""DeadLetterFile: bounded by size and count, whole records or none."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
from support.small_disk import SmallDisk

from shipper.event import Event
from shipper.file_progress import FileProgress
from shipper.sink.dead_letter import DeadLetterFile, Rejection

PROGRESS = FileProgress("fp", "/logs/app.jsonl")


def rejections(first: int, count: int, size: int = 100) -> list[Rejection]:
    return [
        Rejection(
            Event(PROGRESS, n, n + 1, f"fp-{n}", "i", orjson.dumps({"n": n, "pad": "x" * size})),
            400,
            {"type": "index_closed_exception", "reason": "closed"},
        )
        for n in range(first, first + count)
    ]


def numbers(path: Path) -> list[int]:
    return [orjson.loads(raw)["event"]["n"] for raw in path.read_bytes().splitlines()]


async def test_each_record_holds_the_reason_and_the_whole_event(tmp_path: Path) -> None:
    dead_letter = DeadLetterFile(tmp_path / "dl" / "dead-letter.jsonl")
    written = await dead_letter.write(rejections(0, 2))
    raw = (tmp_path / "dl" / "dead-letter.jsonl").read_bytes()
    assert written.bytes == len(raw) and not written.rotated
    first = orjson.loads(raw.splitlines()[0])
    assert first["status"] == 400 and first["reason"]["type"] == "index_closed_exception"
    assert (first["id"], first["file"], first["offset"]) == ("fp-0", "/logs/app.jsonl", 0)
    assert first["event"] == {"n": 0, "pad": "x" * 100}


async def test_the_file_is_rotated_at_its_size_and_only_keep_older_ones_stay(
    tmp_path: Path,
) -> None:
    path = tmp_path / "dead-letter.jsonl"
    dead_letter = DeadLetterFile(path, max_bytes=1000, keep=2)
    rotations = 0
    for first in range(0, 40, 4):  # four records of ~250 bytes a write: a rotation each
        rotations += (await dead_letter.write(rejections(first, 4))).rotated
    assert rotations == 9
    assert dead_letter.backups() == [
        tmp_path / "dead-letter.jsonl.1",
        tmp_path / "dead-letter.jsonl.2",
    ]
    assert not (tmp_path / "dead-letter.jsonl.3").exists()
    assert numbers(path) == [36, 37, 38, 39]
    assert numbers(tmp_path / "dead-letter.jsonl.1") == [32, 33, 34, 35]
    assert numbers(tmp_path / "dead-letter.jsonl.2") == [28, 29, 30, 31]


async def test_with_keep_zero_a_rotation_drops_the_old_file(tmp_path: Path) -> None:
    path = tmp_path / "dead-letter.jsonl"
    dead_letter = DeadLetterFile(path, max_bytes=300, keep=0)
    for first in range(3):
        await dead_letter.write(rejections(first, 1, size=200))
    assert numbers(path) == [2] and dead_letter.backups() == []


async def test_a_write_the_disk_refuses_raises_and_leaves_the_file_as_it_was(
    small_disk: SmallDisk,
) -> None:
    path = small_disk.path / "dead-letter.jsonl"
    dead_letter = DeadLetterFile(path)
    await dead_letter.write(rejections(0, 1))
    before = path.read_bytes()
    small_disk.fill()
    with pytest.raises(OSError):
        await dead_letter.write(rejections(1, 200, size=1000))
    assert path.read_bytes() == before, "no half record"
    small_disk.free_up()
    await dead_letter.write(rejections(1, 1))
    assert numbers(path) == [0, 1]
