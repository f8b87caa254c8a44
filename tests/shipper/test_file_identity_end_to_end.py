"""Files that start with the same line are never confused: several at once in one glob, one
recreated after rotation or deletion (on a new inode or the same one), one replaced by a
shorter file while the shipper was down. Through the real ``jarvis-shipper`` and a real
Elasticsearch: every line stored exactly once, nothing compressed before it is stored."""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
from elasticsearch import ApiError, AsyncElasticsearch
from shipper_harness import (
    ShipperProcess,
    assert_exactly_once,
    markers_in_elasticsearch,
    run_writer,
    wait_for_metric,
    writer_markers,
)
from support.elasticsearch_node import free_port

from shipper.elastic import INDEX_PATTERN

# The same first line in every file the writer starts; it carries no marker.
HEADER = '{"message": "jarvis log file", "file_header": true}'


async def write(path: Path, count: int, prefix: str, *extra: str) -> None:
    """Write ``count`` marked lines to ``path``, every new file starting with HEADER."""
    writer = await run_writer(path, count, prefix, "--header", HEADER, *extra)
    assert await writer.wait() == 0


async def header_documents(client: AsyncElasticsearch) -> int:
    """How many header lines are stored: one per file, each file its own identity."""
    await client.indices.refresh(index=INDEX_PATTERN)
    response = await client.count(index=INDEX_PATTERN, query={"term": {"file_header": True}})
    return int(response["count"])


async def wait_for_size(path: Path, size: int) -> None:
    for _ in range(1000):
        if await asyncio.to_thread(lambda: path.exists() and path.stat().st_size >= size):
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"{path} never reached {size} bytes")


async def wait_for_health(shipper: ShipperProcess, key: str, value: Any) -> dict[str, Any]:
    health: dict[str, Any] = {}
    for _ in range(300):
        health = await shipper.health()
        if health[key] == value:
            return health
        await asyncio.sleep(0.1)
    raise AssertionError(f"/health never had {key}={value}: {health}")


async def test_three_files_with_the_same_first_line_are_all_stored_once(
    tmp_path: Path, es_client: AsyncElasticsearch, shippers
) -> None:
    shipper = shippers(tmp_path / "*.jsonl")
    shipper.start()
    await shipper.status_port()
    names = ("api", "worker", "cron")
    await asyncio.gather(
        *(
            write(tmp_path / f"{name}.jsonl", 1000, name, "--pause-every", "100", "--pause", "0.02")
            for name in names
        )
    )
    await shipper.wait_until_caught_up(3 * 1000 + 3)
    stored = await markers_in_elasticsearch(es_client)
    assert_exactly_once(stored, [m for name in names for m in writer_markers(name, 1000)])
    assert sum(stored.values()) == 3000
    assert await header_documents(es_client) == 3
    assert await shipper.stop() == 0


# A backup as the watcher knows it: its inode, whether it is a gzip, and its first marker
# (inodes are reused as soon as a file is deleted; markers never are).
BackupKey = tuple[int, bool, str]


def backups(directory: Path) -> dict[BackupKey, list[str]]:
    """The markers in each backup of ``app.jsonl`` holding any."""
    found = {}
    for path in directory.glob("app.jsonl.*"):
        compressed = path.suffix == ".gz"
        if path.suffix == ".tmp":
            continue
        try:
            # Inode and content through one descriptor: of one file, renamed meanwhile or not.
            with path.open("rb") as backup:
                inode = os.fstat(backup.fileno()).st_ino
                data = backup.read()
        except FileNotFoundError:
            continue  # compressed, deleted or renamed meanwhile
        data = gzip.decompress(data) if compressed else data[: data.rfind(b"\n") + 1]
        lines = [orjson.loads(raw) for raw in data.splitlines()]
        markers = [line["marker"] for line in lines if "marker" in line]
        if markers:
            found[(inode, compressed, markers[0])] = markers
    return found


async def gone(directory: Path, missing: set[BackupKey]) -> set[BackupKey]:
    """Which of the backups ``missing`` from a listing are gone: a rename (the rotator
    shifting backups) can hide a file from one listing, not from the next one too."""
    await asyncio.sleep(0.005)
    return missing - (await asyncio.to_thread(backups, directory)).keys()


async def count_stored(client: AsyncElasticsearch, markers: list[str]) -> int:
    """How many of ``markers`` are searchable; a node busy creating a daily index may answer
    503 for a moment."""
    for attempt in range(50):
        try:
            await client.indices.refresh(index=INDEX_PATTERN)
            found = await client.count(index=INDEX_PATTERN, query={"terms": {"marker": markers}})
            return int(found["count"])
        except ApiError as error:
            if error.meta.status != 503 or attempt == 49:
                raise
            await asyncio.sleep(0.1)
    raise AssertionError("unreachable")


@dataclass
class BackupWatch:
    """What ``watch_backups`` found: per backup gone or compressed, how many of its lines
    were not stored at that moment (0 when all were)."""

    checked: dict[BackupKey, int] = field(default_factory=dict)
    round_done: asyncio.Event = field(default_factory=asyncio.Event)

    async def rounds_more(self, count: int) -> None:
        """Until ``count`` more listings are taken and checked."""
        for _ in range(count):
            self.round_done.clear()
            await self.round_done.wait()


async def watch_backups(directory: Path, client: AsyncElasticsearch, watch: BackupWatch) -> None:
    """Forever: as soon as a backup is compressed (a gzip appears) or a plain backup is gone
    (compressed or deleted), are all its lines stored?"""
    checked = watch.checked
    plain: dict[BackupKey, list[str]] = {}
    while True:
        now = await asyncio.to_thread(backups, directory)
        vanished = await gone(directory, {key for key in plain if key not in now})
        done = {key: markers for key, markers in plain.items() if key in vanished}
        done |= {key: markers for key, markers in now.items() if key[1] and key not in checked}
        # A plain backup hidden by a rename stays known with the markers last read from it.
        plain = {key: markers for key, markers in plain.items() if key not in done} | {
            key: markers for key, markers in now.items() if not key[1]
        }
        for key, markers in done.items():
            checked[key] = len(markers) - await count_stored(client, markers)
        watch.round_done.set()
        await asyncio.sleep(0.02)


async def test_rotation_of_files_starting_with_the_same_header_stores_every_line_once(
    tmp_path: Path, es_client: AsyncElasticsearch, shippers
) -> None:
    log = tmp_path / "app.jsonl"
    shipper = shippers(rotate_size="20000", keep="3")
    shipper.start()
    await shipper.status_port()
    watch = BackupWatch()
    watcher = asyncio.create_task(watch_backups(tmp_path, es_client, watch))
    try:
        await write(log, 5000, "hdr", "--pause-every", "100", "--pause", "0.05")
        metrics = await wait_for_metric(shipper, "shipper_files_held_back", lambda held: held == 0)
        # One header per file the writer started: each rotated one, and the live one if any.
        files = int(metrics["shipper_files_rotated_total"]) + int(log.exists())
        await shipper.wait_until_caught_up(5000 + files)
        await wait_for_metric(shipper, "shipper_files_held_back", lambda held: held == 0)
        await watch.rounds_more(2)  # the last backups compressed or deleted are seen
    finally:
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watcher  # its own failure, if any, fails the test
    assert files > 20
    assert_exactly_once(await markers_in_elasticsearch(es_client), writer_markers("hdr", 5000))
    assert await header_documents(es_client) == files
    # No backup was compressed or deleted before its lines were stored.
    assert len(watch.checked) > files // 2
    assert all(missing == 0 for missing in watch.checked.values()), watch.checked
    assert await shipper.stop() == 0


async def test_a_file_deleted_and_recreated_with_the_same_header_stores_every_line_once(
    tmp_path: Path, es_client: AsyncElasticsearch, shippers
) -> None:
    log = tmp_path / "app.jsonl"
    shipper = shippers()
    shipper.start()
    await shipper.status_port()
    # While the shipper runs: deleted twice, recreated by the writer with the same header.
    writer = await run_writer(
        log, 6000, "run", "--header", HEADER, "--pause-every", "200", "--pause", "0.05"
    )
    for _ in range(2):
        await wait_for_size(log, 300_000)
        await wait_for_metric(shipper, "shipper_events_read_total", lambda read: read > 0)
        await asyncio.to_thread(os.remove, log)
    assert await writer.wait() == 0
    await shipper.wait_until_caught_up(6000 + 3)
    assert await shipper.stop() == 0
    # While it is stopped: deleted and recreated (ext4 may hand the inode out again).
    await asyncio.to_thread(os.remove, log)
    await write(log, 500, "down")
    shipper.start()
    await shipper.wait_until_caught_up(500 + 1)
    assert await shipper.stop() == 0
    # While it is stopped: emptied on the same inode, then written past its old length.
    inode, size = log.stat().st_ino, log.stat().st_size
    await asyncio.to_thread(os.truncate, log, 0)
    await write(log, 800, "inplace")
    assert log.stat().st_ino == inode and log.stat().st_size > size
    shipper.start()
    await shipper.wait_until_caught_up(800 + 1)
    expected = writer_markers("run", 6000) + writer_markers("down", 500)
    assert_exactly_once(
        await markers_in_elasticsearch(es_client), expected + writer_markers("inplace", 800)
    )
    assert await header_documents(es_client) == 5
    assert await shipper.stop() == 0


async def test_a_saved_offset_beyond_the_end_of_the_file_reads_the_new_file_from_its_start(
    tmp_path: Path, es_client: AsyncElasticsearch, shippers
) -> None:
    log = tmp_path / "app.jsonl"
    shipper = shippers()
    shipper.start()
    await shipper.status_port()
    await write(log, 2000, "old")
    await shipper.wait_until_caught_up(2000 + 1)
    assert await shipper.stop() == 0
    # While it is stopped, replaced by a shorter file with the same header, on the same inode.
    inode, old_size = log.stat().st_ino, log.stat().st_size
    await asyncio.to_thread(os.truncate, log, 0)
    await write(log, 300, "new")
    new_size = log.stat().st_size
    assert log.stat().st_ino == inode and new_size < old_size
    # With Elasticsearch out of reach, /health counts the whole new file as not yet shipped.
    real_url, shipper.es_url = shipper.es_url, f"http://127.0.0.1:{free_port()}"
    shipper.start()
    health = await wait_for_health(shipper, "events_in_flight", 301)
    assert health["lag_bytes"] == new_size
    assert await shipper.stop() == 0
    shipper.es_url = real_url
    shipper.start()
    await shipper.wait_until_caught_up(300 + 1)
    assert_exactly_once(
        await markers_in_elasticsearch(es_client),
        writer_markers("old", 2000) + writer_markers("new", 300),
    )
    assert await header_documents(es_client) == 2
    assert await shipper.stop() == 0


async def test_kill_9_while_files_with_the_same_header_rotate_stores_every_line_once(
    tmp_path: Path, es_client: AsyncElasticsearch, shippers
) -> None:
    """Each identity is found again after a crash: lines sent twice keep their _id."""
    shipper = shippers(rotate_size="20000", keep="3")
    shipper.start()
    await shipper.status_port()
    writer = await run_writer(
        tmp_path / "app.jsonl",
        8000,
        "k9",
        "--header",
        HEADER,
        "--pause-every",
        "100",
        "--pause",
        "0.05",
    )
    for moment in (0.4, 0.9, 0.6, 1.3):
        await asyncio.sleep(moment)
        shipper.kill()
        shipper.start()
        await shipper.status_port()
    assert await writer.wait() == 0
    written = writer_markers("k9", 8000)
    for _ in range(300):
        stored = await markers_in_elasticsearch(es_client)
        if len(stored) == len(written):
            break
        await asyncio.sleep(0.2)
    await wait_for_metric(shipper, "shipper_files_held_back", lambda held: held == 0)
    assert_exactly_once(await markers_in_elasticsearch(es_client), written)
    assert await shipper.stop() == 0
