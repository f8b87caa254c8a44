"""Finding the log files on disk and reading them by byte offset.

Everything here blocks on the disk: the tailer calls it through an executor.
"""

from __future__ import annotations

import gzip
import os
from dataclasses import dataclass
from typing import Protocol

from shipper.source.backups import backups_of, base_paths, live_paths
from shipper.source.identity import fingerprint_fd, fingerprint_path


@dataclass(frozen=True, slots=True)
class Candidate:
    """A file that may hold lines to ship."""

    path: str
    dev: int
    ino: int
    size: int
    fingerprint: str | None
    live: bool
    compressed: bool


def scan(
    pattern: str, gzip_fingerprints: dict[tuple[int, int, int], str | None]
) -> list[Candidate]:
    """Every live file and backup of ``pattern`` with its identity.

    ``gzip_fingerprints`` caches the fingerprints of compressed backups (they never change).
    """
    found: list[Candidate] = []
    live = set(live_paths(pattern))
    paths = [(path, True, False) for path in sorted(live)]
    for base in base_paths(pattern):
        paths.extend((backup.path, False, backup.compressed) for backup in backups_of(base))
    for path, is_live, compressed in paths:
        try:
            stat = os.stat(path)
        except FileNotFoundError:
            continue
        if compressed:
            key = (stat.st_dev, stat.st_ino, stat.st_size)
            if key not in gzip_fingerprints:
                gzip_fingerprints[key] = fingerprint_path(path, compressed=True)
            fingerprint = gzip_fingerprints[key]
        else:
            fingerprint = fingerprint_path(path)
        found.append(
            Candidate(
                path, stat.st_dev, stat.st_ino, stat.st_size, fingerprint, is_live, compressed
            )
        )
    return found


@dataclass(frozen=True, slots=True)
class Chunk:
    data: bytes
    size: int | None
    replaced: bool


class FileSource(Protocol):
    dev: int
    ino: int

    def read(self, offset: int, limit: int, fingerprint: str) -> Chunk: ...

    def close(self) -> None: ...


class PlainFileSource:
    """A plain file read through its descriptor: renames and deletion do not stop it."""

    def __init__(self, path: str) -> None:
        self.fd = os.open(path, os.O_RDONLY)
        stat = os.fstat(self.fd)
        self.dev, self.ino = stat.st_dev, stat.st_ino

    def read(self, offset: int, limit: int, fingerprint: str) -> Chunk:
        """Up to ``limit`` bytes at ``offset``; ``replaced`` when the content is no longer
        the file we were reading (truncated, or copy-truncated and rewritten)."""
        size = os.fstat(self.fd).st_size
        data = os.pread(self.fd, min(limit, size - offset), offset) if size > offset else b""
        # Checked after the read: data read from a file rewritten meanwhile is discarded.
        if size < offset or fingerprint_fd(self.fd) != fingerprint:
            return Chunk(b"", size, True)
        return Chunk(data, size, False)

    def close(self) -> None:
        os.close(self.fd)


class GzipFileSource:
    """A compressed backup, read only to recover lines not yet acknowledged."""

    def __init__(self, path: str) -> None:
        self._stream = gzip.open(path, "rb")
        stat = os.stat(path)
        self.dev, self.ino = stat.st_dev, stat.st_ino

    def read(self, offset: int, limit: int, fingerprint: str) -> Chunk:
        """Up to ``limit`` bytes at ``offset`` of the decompressed content."""
        if self._stream.tell() != offset:
            self._stream.seek(offset)
        data = self._stream.read(limit)
        return Chunk(data, None, False)

    def close(self) -> None:
        self._stream.close()


def open_source(path: str, compressed: bool) -> FileSource:
    """Open ``path`` for reading (raises OSError when it is gone)."""
    return GzipFileSource(path) if compressed else PlainFileSource(path)
