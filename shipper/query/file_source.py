"""Log entries from the local JSONL log file and its rotated (possibly gzip-compressed) backups.

The seed's ``grep REQUEST_ID jarvis.jsonl`` made exact: lines are streamed one at a time
(never a whole file in memory), decoded, filtered on real field values, and ordered by their
own timestamp across files. Disk reads run in a worker thread, off the event loop. Backups
are told apart as the rotator names them (:mod:`shipper.source.backups`).

``stream`` holds one line per file at a time: the files are merged by time as they are read,
each file's lines in the order they were written (a line without a time keeps its place after
the line before it). ``find`` with ``latest`` keeps only the newest it was asked for.

The shipper may rotate (``app.jsonl`` → ``.1``, ``.1`` → ``.2``, …) or compress (``.1`` →
``.1.gz``) the files while they are read: a name read later than another could then be a file
already read, or a file moved away unread. So every file is opened first, and the names
checked again to still be those files: once open, a file reads to its end whatever it is
renamed to.
"""

from __future__ import annotations

import asyncio
import errno
import glob
import gzip
import heapq
import io
import itertools
import os
import resource
import zlib
from collections.abc import AsyncGenerator, Iterator, Sequence
from dataclasses import dataclass, field

from jarvis.logline import TIMESTAMP, decode_line
from shipper.query.filters import EventFilter
from shipper.query.sources import DEFAULT_PAGE_SIZE, LogEntry, SourceUnavailable
from shipper.source.backups import (
    COMPRESSING_SUFFIX,
    GZIP_MAGIC,
    ROTATED_SUFFIX,
    backup_path,
    is_backup,
    is_gzip,
)
from shipper.source.regular_files import NotARegularFile, open_regular_stream, version_of

# (timestamp, file rank, line number): time order, then the order lines had on disk.
_Key = tuple[float, int, int]


@dataclass
class FileScanReport:
    """What could not be used, to tell the user without failing the whole search."""

    lines_skipped: int = 0
    damaged_files: list[str] = field(default_factory=list)


class FileEventSource:
    """Reads every file matching a glob pattern such as ``logs/jarvis.jsonl*``."""

    def __init__(self, pattern: str) -> None:
        self._pattern = pattern
        self.report = FileScanReport()

    @property
    def place(self) -> str:
        """Where the events are read, for messages."""
        return f"files matching {self._pattern!r}"

    @property
    def notes(self) -> list[str]:
        """Lines skipped and files cut short during the last ``find``."""
        notes = [
            f"{path} ends early (damaged, or still being compressed)"
            for path in self.report.damaged_files
        ]
        if self.report.lines_skipped:
            notes.append(f"skipped {self.report.lines_skipped} lines that are not JSON objects")
        return notes

    async def stream(
        self, event_filter: EventFilter, *, without: Sequence[str] = ()
    ) -> AsyncGenerator[list[LogEntry], None]:
        """Every matching event, oldest first, ``DEFAULT_PAGE_SIZE`` at a time (``without`` is
        ignored: a line holds nothing worth leaving out)."""
        files = await self._open_files()
        merged = heapq.merge(
            *(_events_of(file, rank, event_filter, self.report) for rank, file in enumerate(files)),
            key=_key_of,
        )
        try:
            while batch := await asyncio.to_thread(_take, merged, DEFAULT_PAGE_SIZE):
                yield batch
        finally:
            await asyncio.to_thread(_close, files)

    async def find(self, event_filter: EventFilter, *, latest: int | None = None) -> list[LogEntry]:
        """Every matching event, oldest first; with ``latest``, only the newest ``latest`` ones."""
        files = await self._open_files()
        found: list[tuple[_Key, LogEntry]] = []
        try:
            for rank, file in enumerate(files):
                found.extend(
                    await asyncio.to_thread(_scan, file, rank, event_filter, latest, self.report)
                )
        finally:
            await asyncio.to_thread(_close, files)
        if latest is not None:
            return [event for _, event in sorted(heapq.nlargest(latest, found, key=_key_of))]
        found.sort(key=_key_of)
        return [event for _, event in found]

    async def _open_files(self) -> list[_OpenFile]:
        self.report = FileScanReport()
        files = await asyncio.to_thread(_open_as_named, self._pattern)
        if not files:
            # Nothing to read is not "nothing matched" (exit 1): the source is wrong (exit 2).
            raise SourceUnavailable(f"no log file matches {self._pattern!r}")
        return files


@dataclass
class _OpenFile:
    """A log file opened for reading; ``stream`` decompresses it when it is gzip."""

    path: str
    raw: io.BufferedReader
    stream: io.BufferedIOBase
    compressed: bool

    def close(self) -> None:
        # A GzipFile does not close the file it was given.
        self.stream.close()
        self.raw.close()


# A rotation is a few renames: this many in a row while the files are opened is a rotator gone
# wild, not bad luck.
_OPENING_TRIES = 100


def _open_as_named(pattern: str) -> list[_OpenFile]:
    """Every file matching ``pattern``, oldest first, opened, each still under the name it was
    listed by once all are open (so no file is read twice or missed)."""
    for _ in range(_OPENING_TRIES):
        files: list[_OpenFile] = []
        try:
            for path in _oldest_first(pattern):
                files.append(_open(path))
        except (FileNotFoundError, NotARegularFile):
            pass  # moved (or replaced by a FIFO) between listing and opening: list again
        except BaseException:
            _close(files)
            raise
        else:
            if _still_named(files, pattern):
                return files
        _close(files)
    raise SourceUnavailable(f"the files matching {pattern!r} kept being renamed while opened")


def _still_named(files: list[_OpenFile], pattern: str) -> bool:
    """Whether the files matching ``pattern`` are exactly ``files``, each under its name."""
    if set(_oldest_first(pattern)) != {file.path for file in files}:
        return False
    try:
        return all(
            os.path.samestat(os.stat(file.path), os.fstat(file.raw.fileno())) for file in files
        )
    except FileNotFoundError:
        return False


def _close(files: list[_OpenFile]) -> None:
    for file in files:
        file.close()


def _take(events: Iterator[tuple[_Key, LogEntry]], count: int) -> list[LogEntry]:
    return [event for _, event in itertools.islice(events, count)]


def _key_of(item: tuple[_Key, LogEntry]) -> _Key:
    return item[0]


def _oldest_first(pattern: str) -> list[str]:
    paths = set(glob.glob(pattern))
    dated: list[tuple[int, str]] = []
    for path in paths:
        # A backup being compressed exists twice for a moment (``.1`` and ``.1.gz``, and a
        # ``.1.gz.tmp`` before that): read the uncompressed one only, so no line is seen twice.
        if path.endswith(COMPRESSING_SUFFIX) or _uncompressed_twin(path) in paths:
            continue
        # None when rotated away while listing, or no regular file: never a FIFO (it would
        # wait for a writer) nor a file through a link (the tailer reads neither).
        version = version_of(path)
        if version is not None:
            dated.append((version[3], path))
    # Rotated backups were last written before the live file; the name breaks ties.
    return [path for _, path in sorted(dated)]


def _uncompressed_twin(path: str) -> str | None:
    """``app.jsonl.1`` for the compressed backup ``app.jsonl.1.gz``; None for any other path."""
    rotated = ROTATED_SUFFIX.search(path)
    if rotated is None or rotated.group(2) is None:
        return None
    return backup_path(path[: rotated.start()], int(rotated.group(1)))


def _scan(
    file: _OpenFile,
    rank: int,
    event_filter: EventFilter,
    latest: int | None,
    report: FileScanReport,
) -> list[tuple[_Key, LogEntry]]:
    """The matching events of one file; with ``latest``, at most that many (the newest)."""
    if latest is None:
        return list(_events_of(file, rank, event_filter, report))
    kept: list[tuple[_Key, LogEntry]] = []
    for item in _events_of(file, rank, event_filter, report):
        if len(kept) < latest:
            heapq.heappush(kept, item)
        else:
            heapq.heappushpop(kept, item)
    return kept


def _events_of(
    file: _OpenFile, rank: int, event_filter: EventFilter, report: FileScanReport
) -> Iterator[tuple[_Key, LogEntry]]:
    """The matching events of one file in file order, each with its key (time, file rank,
    line number)."""
    # Request IDs use only characters JSON never escapes, so a line lacking the raw bytes
    # cannot belong to the request: skip decoding it, as grep would.
    needle = event_filter.request_id.encode() if event_filter.request_id else None
    last_timestamp = 0.0
    # Only the live file is still being written: its last line may be cut mid-write.
    live = not file.compressed and not is_backup(file.path)
    lines = _lines(file.stream, file.path, report, complete_only=live)
    for number, line in enumerate(lines):
        if needle is not None and needle not in line:
            continue
        event = decode_line(line)
        if event is None:
            report.lines_skipped += 1
            continue
        timestamp = event.get(TIMESTAMP)
        if isinstance(timestamp, int | float):
            last_timestamp = float(timestamp)
        if not event_filter.matches(event):
            continue
        # A line without a time keeps its place after the line before it.
        yield (last_timestamp, rank, number), event


def _open(path: str) -> _OpenFile:
    """``path`` opened once (opened again, the name could be another file by then), read
    through gzip when its content is, whatever its name."""
    try:
        raw = open_regular_stream(path)
    except PermissionError:
        raise SourceUnavailable(f"not allowed to read {path}") from None
    except OSError as error:
        if error.errno != errno.EMFILE:
            raise
        limit = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
        raise SourceUnavailable(
            f"too many files to read at once: the limit of open files (ulimit -n) is {limit}; "
            "raise it, or narrow --path"
        ) from None
    try:
        compressed = is_gzip(raw.peek(len(GZIP_MAGIC))[: len(GZIP_MAGIC)])
        stream: io.BufferedIOBase = gzip.GzipFile(fileobj=raw, mode="rb") if compressed else raw
    except BaseException:
        raw.close()
        raise
    return _OpenFile(path, raw, stream, compressed)


def _lines(
    stream: io.BufferedIOBase, path: str, report: FileScanReport, *, complete_only: bool
) -> Iterator[bytes]:
    """The stream's lines; with ``complete_only``, never a last line lacking its newline."""
    try:
        for line in stream:
            if complete_only and not line.endswith(b"\n"):
                # A writer may be mid-line: the rest is not on disk yet, so it is no line yet.
                return
            yield line
    except (EOFError, gzip.BadGzipFile, zlib.error):
        # A backup cut short (still being compressed, or damaged): keep what was readable.
        report.damaged_files.append(path)
