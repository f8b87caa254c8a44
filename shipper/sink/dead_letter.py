"""The last resort: events Elasticsearch refused even as a fallback document (a closed index,
say), kept as JSONL.

Each record holds the reason and the whole event, so it can be fixed and replayed.
A record is on disk (fsync'd) before the event counts as done and the registry moves
past it; a write that fails (a full or failing disk) is undone, so that the file never holds
half a record, and raises: the events stay unacknowledged, to be written again.

The file is bounded: once a write would take it past ``max_bytes`` it is renamed ``.1``
(``.1`` to ``.2``, ...), and only ``keep`` such older files are kept.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import orjson

from shipper.event import Event

DEFAULT_MAX_BYTES = 32 * 1024 * 1024
DEFAULT_KEEP = 3


@dataclass(frozen=True, slots=True)
class Rejection:
    event: Event
    status: int
    reason: dict[str, object]


@dataclass(frozen=True, slots=True)
class Written:
    """What one write did: bytes appended, and whether the file was rotated first."""

    bytes: int
    rotated: bool


class DeadLetterFile:
    def __init__(
        self, path: Path, *, max_bytes: int = DEFAULT_MAX_BYTES, keep: int = DEFAULT_KEEP
    ) -> None:
        self.path = path
        self._max_bytes = max_bytes
        self._keep = keep
        self._lock = asyncio.Lock()

    async def write(self, rejections: Sequence[Rejection]) -> Written:
        """Append ``rejections`` durably; returns once they are on disk. Raises OSError (and
        leaves the file as it was) when the disk refuses."""
        if not rejections:
            return Written(0, False)
        now = time.time()
        records = b"".join(_record(rejection, now) for rejection in rejections)
        async with self._lock:
            return await asyncio.get_running_loop().run_in_executor(None, self._append, records)

    def backups(self) -> list[Path]:
        """The rotated files, newest first."""
        return [p for n in range(1, self._keep + 1) if (p := self._backup(n)).exists()]

    def _append(self, records: bytes) -> Written:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        size = self.path.stat().st_size if self.path.exists() else 0
        rotated = bool(size) and size + len(records) > self._max_bytes
        if rotated:
            self._rotate()
        descriptor = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            size = os.fstat(descriptor).st_size
            try:
                written = 0
                while written < len(records):
                    written += os.write(descriptor, records[written:])
                os.fsync(descriptor)
            except OSError:
                # Shrinking a file needs no free space: the torn record goes, the file stays.
                os.ftruncate(descriptor, size)
                raise
        finally:
            os.close(descriptor)
        return Written(len(records), rotated)

    def _rotate(self) -> None:
        if self._keep == 0:
            self.path.unlink()
            return
        for number in range(self._keep - 1, 0, -1):
            older = self._backup(number)
            if older.exists():
                older.replace(self._backup(number + 1))
        self.path.replace(self._backup(1))

    def _backup(self, number: int) -> Path:
        return self.path.with_name(f"{self.path.name}.{number}")


def _record(rejection: Rejection, now: float) -> bytes:
    event = rejection.event
    header = orjson.dumps(
        {
            "time": now,
            "status": rejection.status,
            "reason": rejection.reason,
            "index": event.index,
            "id": event.doc_id,
            "file": event.progress.path,
            "offset": event.offset,
        }
    )
    # The event is already serialised: splice it in rather than parse it again.
    return header[:-1] + b',"event":' + event.source + b"}\n"
