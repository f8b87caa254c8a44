"""The registry: per file (by fingerprint), the offset up to which Elasticsearch has
acknowledged every line. It is what a restarted shipper resumes from.

Saved atomically (temp file, fsync, rename, fsync of the directory) in an executor,
so a crash leaves either the old or the new registry, never a torn one.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import orjson

from shipper.file_progress import FileProgress

FORMAT_VERSION = 1


class RegistryUnreadable(ValueError):
    """The saved registry is damaged; the message says what to do."""


@dataclass(frozen=True, slots=True)
class Lag:
    """What has been read and not yet acknowledged, over every file."""

    lag_bytes: int
    lag_seconds: float
    events_in_flight: int


class FileRegistry:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._files: dict[str, FileProgress] = {}
        self._save_lock = asyncio.Lock()

    def __iter__(self) -> Iterator[FileProgress]:
        return iter(list(self._files.values()))

    def __len__(self) -> int:
        return len(self._files)

    def get(self, fingerprint: str) -> FileProgress | None:
        return self._files.get(fingerprint)

    def get_or_create(self, fingerprint: str, path: str) -> FileProgress:
        """The progress of the file with ``fingerprint``; a new file starts at offset 0."""
        progress = self._files.get(fingerprint)
        if progress is None:
            progress = self._files[fingerprint] = FileProgress(fingerprint, path)
        return progress

    def forget(self, fingerprint: str) -> None:
        self._files.pop(fingerprint, None)

    def lag(self) -> Lag:
        files = list(self._files.values())
        return Lag(
            lag_bytes=sum(p.lag_bytes for p in files),
            lag_seconds=round(max((p.oldest_pending_age for p in files), default=0.0), 3),
            events_in_flight=sum(p.pending for p in files),
        )

    async def load(self) -> None:
        """Read the saved registry (a missing file means a first start); a registry that
        cannot be read raises RegistryUnreadable rather than silently shipping everything again."""
        loop = asyncio.get_running_loop()
        raw = await loop.run_in_executor(None, self._read)
        if raw is None:
            return
        try:
            document = orjson.loads(raw)
            for fingerprint, entry in document["files"].items():
                self._files[fingerprint] = FileProgress(
                    fingerprint,
                    str(entry["path"]),
                    acked=int(entry["offset"]),
                    size=int(entry.get("size", 0)),
                )
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError) as error:
            raise RegistryUnreadable(
                f"registry {self.path} is unreadable ({error}); move it away to ship every file "
                "from the start (lines already stored are not duplicated: same _id)"
            ) from error

    async def save(self) -> None:
        """Write the acknowledged offsets durably; concurrent calls are serialised."""
        document = {
            "version": FORMAT_VERSION,
            "saved_at": time.time(),
            "files": {
                p.fingerprint: {"path": p.path, "offset": p.acked, "size": p.size}
                for p in self._files.values()
            },
        }
        data = orjson.dumps(document, option=orjson.OPT_INDENT_2)
        async with self._save_lock:
            await asyncio.get_running_loop().run_in_executor(None, self._write, data)

    def _read(self) -> bytes | None:
        try:
            return self.path.read_bytes()
        except FileNotFoundError:
            return None

    def _write(self, data: bytes) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temp = self.path.with_name(self.path.name + ".tmp")
        with open(temp, "wb") as stream:
            stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temp, self.path)
        directory = os.open(self.path.parent, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)
