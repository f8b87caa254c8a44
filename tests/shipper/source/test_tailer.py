"""Tailer against real files: rotation by rename, copy-truncate, deletion, restarts."""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import os
import resource
import shutil
import stat
from pathlib import Path

import orjson
import pytest

from shipper.metrics import ShipperMetrics
from shipper.registry import FileRegistry
from shipper.source import tailer
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

    async def poll(self, acknowledge: bool = True) -> list[tuple[str, int, bytes]]:
        """Poll once; return (fingerprint, offset, line) handed downstream, acknowledging
        them unless told not to."""
        await self.tailer.poll_once()
        out = []
        while not self.queue.empty():
            group = self.queue.get_nowait()
            assert group is not None
            for line in group.lines:
                out.append((group.progress.fingerprint, line.start, line.data))
                if acknowledge:
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
    backup = os.stat(str(h.path) + ".1")
    assert h.tailer.settled((backup.st_dev, backup.st_ino, backup.st_size, backup.st_mtime_ns))
    assert await h.poll() == []


async def test_copy_truncate_finishes_old_lines_from_the_copy(tmp_path: Path) -> None:
    h = Harness(tmp_path)
    append(h.path, 1, 2)
    first = await h.poll()
    append(h.path, 3, 4)  # not read yet when the outside tool copies and truncates
    shutil.copyfile(h.path, str(h.path) + ".1")
    os.truncate(h.path, 0)
    append(h.path, 5)
    # The copy is taken for the file's own once that file is missed two rounds running.
    second = await h.poll() + await h.poll() + await h.poll()
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
    shipped = await again.poll() + await again.poll()
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


# Files starting with the same line: told apart by inode, generation and anchors.

HEADER = b'{"message": "log file opened", "schema": 1}\n'


def start_with_header(path: Path, *numbers: int) -> None:
    """A new file (or the same inode emptied) starting with HEADER, then ``numbers``."""
    path.write_bytes(HEADER)
    append(path, *numbers)


def identities(shipped: list[tuple[str, int, bytes]]) -> dict[str, str]:
    """The identity each line was shipped under, by its text (the header left out)."""
    return {orjson.loads(data)["message"]: fp for fp, _, data in shipped if data != HEADER.strip()}


async def test_files_with_the_same_first_line_are_each_read_in_full(tmp_path: Path) -> None:
    h = Harness(tmp_path, pattern=str(tmp_path / "*.jsonl"))
    for name, first in (("api", 0), ("worker", 10), ("cron", 20)):
        start_with_header(tmp_path / f"{name}.jsonl", first, first + 1)
    shipped = await h.poll()
    assert sorted(texts(shipped)) == sorted(
        ["log file opened"] * 3 + [f"line {n}" for n in (0, 1, 10, 11, 20, 21)]
    )
    by_text = identities(shipped)
    assert len({by_text["line 0"], by_text["line 10"], by_text["line 20"]}) == 3
    append(tmp_path / "worker.jsonl", 12)
    assert texts(await h.poll()) == ["line 12"]


async def test_a_file_recreated_with_the_same_first_line_is_a_new_file(tmp_path: Path) -> None:
    h = Harness(tmp_path)
    start_with_header(h.path, 1, 2)
    first = await h.poll()
    os.remove(h.path)
    start_with_header(h.path, 3)
    second = await h.poll() + await h.poll()
    assert sorted(texts(second)) == ["line 3", "log file opened"]
    assert identities(first)["line 1"] != identities(second)["line 3"]


async def test_a_file_rewritten_in_place_with_the_same_first_line_is_read_from_zero(
    tmp_path: Path,
) -> None:
    """Same inode, same header, longer than what was read: the anchors tell them apart."""
    h = Harness(tmp_path)
    start_with_header(h.path, 1)
    first = await h.poll()
    inode = h.path.stat().st_ino
    start_with_header(h.path, 7, 8, 9)
    assert h.path.stat().st_ino == inode
    shipped = await h.poll() + await h.poll()
    assert texts(shipped) == ["log file opened", "line 7", "line 8", "line 9"]
    assert {fp for fp, _, _ in shipped} != {fp for fp, _, _ in first}


async def test_a_saved_offset_beyond_the_end_of_the_file_reads_it_from_zero(
    tmp_path: Path,
) -> None:
    h = Harness(tmp_path)
    start_with_header(h.path, 1, 2, 3, 4)
    await h.poll()
    await h.registry.save()
    # Replaced while the shipper is down by a shorter file with the same first line.
    start_with_header(h.path, 5)
    again = Harness(tmp_path)
    await again.registry.load()
    await again.tailer.poll_once()
    # Read and not yet acknowledged: the lag says so (the old file was all shipped).
    assert again.registry.lag().lag_bytes == h.path.stat().st_size
    shipped = []
    while not again.queue.empty():
        group = again.queue.get_nowait()
        assert group is not None
        shipped += [(group.progress.fingerprint, line.start, line.data) for line in group.lines]
    assert texts(shipped) == ["log file opened", "line 5"]


async def test_a_file_recreated_on_the_same_inode_after_being_forgotten_gets_a_new_identity(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Its predecessor's lines are all stored and its entry forgotten, but not its generation."""
    monkeypatch.setattr(tailer, "FORGET_GONE_AFTER", 0.0)
    h = Harness(tmp_path)
    start_with_header(h.path, 1)
    first = await h.poll()
    os.truncate(h.path, 0)
    assert await h.poll() + await h.poll() + await h.poll() == []
    assert len(h.registry) == 0
    start_with_header(h.path, 1)  # byte for byte the same file again, on the same inode
    second = await h.poll() + await h.poll()
    assert texts(second) == texts(first)
    assert {fp for fp, _, _ in second}.isdisjoint({fp for fp, _, _ in first})


async def test_a_new_file_s_identity_is_saved_before_its_lines_are_read(tmp_path: Path) -> None:
    """A crash right after cannot forget it and give it again to the next file on that inode."""
    h = Harness(tmp_path)
    start_with_header(h.path, 1)
    shipped = await h.poll()
    saved = FileRegistry(h.registry.path)
    await saved.load()
    assert {fp for fp, _, _ in shipped} == {progress.fingerprint for progress in saved}


async def test_an_identity_is_computed_the_same_by_every_start(tmp_path: Path) -> None:
    """Lines sent again under it get the same _id (so are stored once)."""
    start_with_header(tmp_path / "app.jsonl", 1)
    before = await Harness(tmp_path).poll()
    (tmp_path / "state" / "registry.json").unlink()
    after = await Harness(tmp_path).poll()
    assert before == after


async def test_copy_truncate_of_a_file_with_a_header_keeps_the_copy_apart(
    tmp_path: Path,
) -> None:
    h = Harness(tmp_path)
    start_with_header(h.path, 1, 2)
    first = await h.poll()
    append(h.path, 3, 4)
    shutil.copyfile(h.path, str(h.path) + ".1")
    os.truncate(h.path, 0)
    start_with_header(h.path, 5)
    second = await h.poll() + await h.poll() + await h.poll() + await h.poll()
    assert sorted(texts(second)) == ["line 3", "line 4", "line 5", "log file opened"]
    by_text = identities(first + second)
    assert by_text["line 3"] == by_text["line 1"] != by_text["line 5"]
    assert await h.poll() == []


async def test_a_version_1_registry_keeps_the_ids_of_its_file(tmp_path: Path) -> None:
    """Keyed by the hash of the first line: that stays the identity of the file at its path;
    another file with that first line, which version 1 could not tell apart, is read in full."""
    h = Harness(tmp_path, pattern=str(tmp_path / "*.jsonl"))
    start_with_header(h.path, 1, 2)
    start_with_header(tmp_path / "other.jsonl", 3)
    fingerprint = hashlib.blake2b(HEADER, digest_size=16).hexdigest()
    offset = len(HEADER) + len(line(1))
    h.registry.path.parent.mkdir()
    h.registry.path.write_bytes(
        orjson.dumps(
            {"version": 1, "files": {fingerprint: {"path": str(h.path), "offset": offset}}}
        )
    )
    await h.registry.load()
    shipped = await h.poll() + await h.poll()
    assert sorted(texts(shipped)) == ["line 2", "line 3", "log file opened"]
    assert (fingerprint, offset) in {(fp, start) for fp, start, _ in shipped}
    assert identities(shipped)["line 3"] != fingerprint


async def hide_for_one_round(h: Harness, path: Path) -> list[tuple[str, int, bytes]]:
    """``path`` out of sight for one round, as a rename racing the directory listing does;
    what that round shipped."""
    hidden = path.with_name(path.name + ".moving")
    await asyncio.to_thread(path.rename, hidden)
    shipped = await h.poll()
    await asyncio.to_thread(hidden.rename, path)
    return shipped


def long_line(n: int) -> bytes:
    """A line longer than the files it is compared with: no anchor falls inside them."""
    return orjson.dumps({"message": f"line {n}", "padding": "x" * 300}) + b"\n"


async def rotated_backup_let_go(h: Harness) -> tuple[Path, list[tuple[str, int, bytes]]]:
    """``app.jsonl`` (the header, then a long line) read, rotated to ``app.jsonl.1`` and let
    go, its lines not acknowledged yet (Elasticsearch slow): that backup, what was shipped."""
    h.path.write_bytes(HEADER)
    shipped = await h.poll(acknowledge=False)  # the header alone: an anchor right after it
    append_raw(h.path, long_line(1))
    shipped += await h.poll(acknowledge=False)
    backup = h.path.with_name("app.jsonl.1")
    await asyncio.to_thread(h.path.rename, backup)
    shipped += await h.poll(acknowledge=False)
    return backup, shipped


async def test_a_gzip_of_another_file_with_the_same_first_line_never_takes_a_file_s_place(
    tmp_path: Path,
) -> None:
    """A shorter file with the same header, compressed, shows only the header's bytes of a
    backup hidden meanwhile: that is no copy of it, and the backup keeps its identity."""
    h = Harness(tmp_path)
    backup, first = await rotated_backup_let_go(h)
    other = tmp_path / "other"
    start_with_header(other, 4)
    gzip_file(other, str(h.path) + ".2.gz")
    later = await hide_for_one_round(h, backup)
    later += await h.poll() + await h.poll()
    assert texts(first) == ["log file opened", "line 1"]
    assert later == []  # nothing of the backup read again, under another identity


async def test_a_copy_waits_while_its_file_may_only_be_hidden_by_a_rename(tmp_path: Path) -> None:
    """A true copy of a backup hidden for one round is not taken for it: once the backup is
    back, nothing of it is read again under another identity."""
    h = Harness(tmp_path)
    backup, first = await rotated_backup_let_go(h)
    shutil.copyfile(backup, str(h.path) + ".2")
    later = await hide_for_one_round(h, backup)
    later += await h.poll() + await h.poll()
    assert texts(first) == ["log file opened", "line 1"]
    assert later == []


async def two_lines_and_warnings(
    h: Harness, caplog: pytest.LogCaptureFixture, warning: str
) -> tuple[list[str], list[str | None]]:
    """Lines 1 and 2 appended to the live file, a round after each: what was shipped, and
    the paths warned of with a message starting ``warning``."""
    append(h.path, 1)
    shipped = await asyncio.wait_for(h.poll(), 10)
    append(h.path, 2)
    shipped += await asyncio.wait_for(h.poll(), 10)
    warned = [
        getattr(record, "path", None)
        for record in caplog.records
        if record.getMessage().startswith(warning)
    ]
    return texts(shipped), warned


async def test_a_fifo_or_device_named_like_a_backup_stops_nothing(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Whoever can write to the log directory can put a FIFO there under a backup's name:
    opened for reading, it would wait for a writer forever, and the tailer with it."""
    h = Harness(tmp_path)
    os.mkfifo(str(h.path) + ".1")
    os.mknod(str(h.path) + ".2", 0o600 | stat.S_IFCHR, os.makedev(1, 5))  # /dev/zero: no end
    os.mkdir(str(h.path) + ".3")
    shipped, warned = await two_lines_and_warnings(h, caplog, "not a regular file")
    assert shipped == ["line 1", "line 2"]
    assert sorted(warned) == [str(h.path) + suffix for suffix in (".1", ".2", ".3")]


@pytest.mark.parametrize("named_by", ["path", "glob"])
async def test_files_that_cannot_be_opened_for_a_while_are_neither_given_up_nor_read_twice(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, named_by: str
) -> None:
    """Out of file descriptors (``ulimit -n``), the files are still there: not being able to
    open them is not their being gone, to be forgotten and, once they open again, read
    again from their start under new identities."""
    pattern = str(tmp_path / "*.jsonl") if named_by == "glob" else None
    monkeypatch.setattr(tailer, "FORGET_GONE_AFTER", 0.0)
    h = Harness(tmp_path, pattern)
    append(h.path, 1, 2)
    os.rename(h.path, str(h.path) + ".1")  # a backup, read to its end and let go
    append(h.path, 3)
    first = await h.poll() + await h.poll()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (3, hard))  # no descriptor to spare
    try:
        meanwhile = await h.poll() + await h.poll() + await h.poll()
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    append(h.path, 4)
    again = await h.poll() + await h.poll()
    assert sorted(texts(first)) == ["line 1", "line 2", "line 3"]
    assert meanwhile == []
    assert texts(again) == ["line 4"]
    assert len(h.registry) == 2
    # Said once each, for three rounds, with why.
    warned = [r.getMessage() for r in caplog.records if r.getMessage().startswith("cannot open")]
    assert warned and all(message.endswith("Too many open files") for message in warned)
    paths = [getattr(r, "path", None) for r in caplog.records if r.getMessage() in warned]
    assert len(paths) == len(set(paths))


async def test_a_file_seen_under_two_names_at_once_is_read_once(tmp_path: Path) -> None:
    """As a file renamed while the tailer opens the paths one by one can be (the rotator
    shifting backups), or one linked under a backup's name: one file, one identity."""
    h = Harness(tmp_path)
    append(h.path, 1, 2)
    os.link(h.path, str(h.path) + ".1")
    shipped = await h.poll() + await h.poll()
    assert texts(shipped) == ["line 1", "line 2"]
    assert len(h.registry) == 1


@pytest.mark.parametrize("named_by", ["path", "glob"])
async def test_a_link_among_the_log_files_is_never_read_through(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, named_by: str
) -> None:
    """Whoever can write to the log directory could link a log file's name to a file only
    the shipper may read, and have its text sent to Elasticsearch: no link is followed, each
    is warned of once, and the real files are read as ever."""
    secret = tmp_path / "outside" / "secret.jsonl"
    secret.parent.mkdir()
    append(secret, 100, 101)
    secret.chmod(0o600)
    logs = tmp_path / "logs"
    logs.mkdir()
    pattern = str(logs / "*.jsonl") if named_by == "glob" else None
    h = Harness(logs, pattern)
    links = [str(h.path) + ".1", str(logs / "other.jsonl")]
    for link in links:
        os.symlink(secret, link)
    shipped, warned = await two_lines_and_warnings(h, caplog, "a symbolic link")
    assert shipped == ["line 1", "line 2"]
    # The literal path names its own backups only; a glob names the other file too.
    assert sorted(warned) == sorted(links if named_by == "glob" else links[:1])
