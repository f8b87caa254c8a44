"""Finding the log files on disk and reading them by byte offset.

Everything here blocks on the disk: the tailer calls it through an executor.
"""

from __future__ import annotations

import glob
import gzip
import os
from dataclasses import dataclass
from typing import Protocol

from shipper.source.backups import backups_of, base_paths, live_paths, pattern_directory
from shipper.source.identity import (
    Anchor,
    Head,
    anchor_window,
    head_of_fd,
    head_of_gzip,
    holds_fd,
)
from shipper.source.regular_files import (
    FileVersion,
    NotARegularFile,
    open_regular,
    open_regular_stream,
)


@dataclass(frozen=True, slots=True)
class Candidate:
    """A file that may hold lines to ship, as it is now."""

    path: str
    dev: int
    ino: int
    size: int
    mtime_ns: int
    head: Head | None
    live: bool
    compressed: bool

    @property
    def inode(self) -> tuple[int, int]:
        return self.dev, self.ino

    @property
    def version(self) -> FileVersion:
        return self.dev, self.ino, self.size, self.mtime_ns


@dataclass(frozen=True, slots=True)
class Scan:
    """What a look at the files found: the files to consider; the paths that are no regular
    file (a FIFO, a device, a link: never opened for reading), with what they are; and the files
    there that could not be looked at (no permission, out of file descriptors, a failing
    disk), with why: they may be any known file, so none is taken for gone."""

    candidates: list[Candidate]
    not_regular: list[tuple[str, str]]
    unreadable: list[tuple[str, str]]


def scan(pattern: str, gzip_heads: dict[tuple[int, int, int], Head | None]) -> Scan:
    """Every live file and backup of ``pattern`` with its head.

    ``gzip_heads`` caches the heads of compressed backups (they never change).
    """
    found = Scan([], [], [])
    if glob.has_magic(pattern):
        # glob takes a directory it cannot list for an empty one: make sure it can.
        listed = pattern_directory(pattern)
        try:
            os.listdir(listed)
        except FileNotFoundError:
            pass
        except OSError as error:
            found.unreadable.append((listed, why(error)))
            return found
    paths = [(path, True, False) for path in live_paths(pattern)]
    for base in base_paths(pattern):
        try:
            backups = backups_of(base)
        except OSError as error:
            found.unreadable.append((os.path.dirname(base) or ".", why(error)))
            continue
        paths.extend((backup.path, False, backup.compressed) for backup in backups)
    for path, live, compressed in paths:
        try:
            candidate = _look_at(path, live, compressed, gzip_heads)
        except NotARegularFile as error:
            found.not_regular.append((path, why(error)))
            continue
        except OSError as error:
            found.unreadable.append((path, why(error)))
            continue
        if candidate is not None:
            found.candidates.append(candidate)
    # A file renamed while the paths were opened (the rotator shifting backups) may have
    # been opened under both names: it is where it was seen last, and only there. Taken as
    # two, the round would give the second an identity of its own, and its first one would
    # never be read.
    last_seen = {candidate.inode: candidate for candidate in found.candidates}
    found.candidates[:] = last_seen.values()
    return found


def why(error: OSError) -> str:
    """What went wrong, without the path (given apart): ``Too many open files``."""
    return error.strerror or str(error)


def _look_at(
    path: str, live: bool, compressed: bool, gzip_heads: dict[tuple[int, int, int], Head | None]
) -> Candidate | None:
    # Inode, size and head read through one descriptor: of one file, even if the path is
    # renamed meanwhile (as the rotator does).
    try:
        with open_regular_stream(path) as raw:
            stat = os.fstat(raw.fileno())
            if compressed:
                key = (stat.st_dev, stat.st_ino, stat.st_size)
                if key not in gzip_heads:
                    gzip_heads[key] = head_of_gzip(raw)
                head = gzip_heads[key]
            else:
                head = head_of_fd(raw.fileno())
    except (FileNotFoundError, NotADirectoryError):
        return None  # gone since the listing (renamed away, deleted)
    return Candidate(
        path,
        stat.st_dev,
        stat.st_ino,
        stat.st_size,
        stat.st_mtime_ns,
        head,
        live,
        compressed,
    )


@dataclass(frozen=True, slots=True)
class Chunk:
    data: bytes
    size: int | None
    replaced: bool


class FileSource(Protocol):
    dev: int
    ino: int

    def window(self, offset: int) -> bytes:
        """The bytes an anchor at ``offset`` covers (fewer if the file is shorter)."""
        ...

    def read(self, offset: int, limit: int, head: str, anchor: Anchor | None) -> Chunk: ...

    def close(self) -> None: ...


class PlainFileSource:
    """A plain file read through its descriptor: renames and deletion do not stop it."""

    def __init__(self, path: str) -> None:
        self.fd = open_regular(path)
        stat = os.fstat(self.fd)
        self.dev, self.ino = stat.st_dev, stat.st_ino

    def window(self, offset: int) -> bytes:
        start, length = anchor_window(offset)
        return os.pread(self.fd, length, start)

    def read(self, offset: int, limit: int, head: str, anchor: Anchor | None) -> Chunk:
        """Up to ``limit`` bytes at ``offset``; ``replaced`` when the content is no longer
        the file we were reading: truncated (below ``offset`` or ``anchor``), or rewritten
        (another first line, or other bytes before ``anchor``, the latest one read)."""
        size = os.fstat(self.fd).st_size
        data = os.pread(self.fd, min(limit, size - offset), offset) if size > offset else b""
        # Checked after the read: data read from a file rewritten meanwhile is discarded.
        now = head_of_fd(self.fd)
        if (
            size < offset
            or now is None
            or now.digest != head
            or (anchor is not None and not holds_fd(self.fd, anchor))
        ):
            return Chunk(b"", size, True)
        return Chunk(data, size, False)

    def close(self) -> None:
        os.close(self.fd)


class GzipFileSource:
    """A compressed backup, read only to recover lines not yet acknowledged."""

    def __init__(self, path: str) -> None:
        self._raw = open_regular_stream(path)
        stat = os.fstat(self._raw.fileno())
        self.dev, self.ino = stat.st_dev, stat.st_ino
        self._stream = gzip.GzipFile(fileobj=self._raw)

    def window(self, offset: int) -> bytes:
        start, length = anchor_window(offset)
        self._stream.seek(start)
        return self._stream.read(length)

    def read(self, offset: int, limit: int, head: str, anchor: Anchor | None) -> Chunk:
        """Up to ``limit`` bytes at ``offset`` of the decompressed content."""
        if self._stream.tell() != offset:
            self._stream.seek(offset)
        data = self._stream.read(limit)
        return Chunk(data, None, False)

    def close(self) -> None:
        self._stream.close()
        self._raw.close()


def open_source(path: str, compressed: bool) -> FileSource:
    """Open ``path`` for reading (raises OSError when it is gone)."""
    return GzipFileSource(path) if compressed else PlainFileSource(path)
