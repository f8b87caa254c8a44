"""Events Elasticsearch will never accept (mapping conflicts, other 400s), kept as JSONL.

Each record holds the reason and the whole event, so it can be fixed and replayed.
A record is on disk (fsync'd) before the event counts as done and the registry moves
past it.
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


@dataclass(frozen=True, slots=True)
class Rejection:
    event: Event
    status: int
    reason: dict[str, object]


class DeadLetterFile:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = asyncio.Lock()

    async def write(self, rejections: Sequence[Rejection]) -> None:
        """Append ``rejections`` durably; returns once they are on disk."""
        if not rejections:
            return
        now = time.time()
        records = b"".join(_record(rejection, now) for rejection in rejections)
        async with self._lock:
            await asyncio.get_running_loop().run_in_executor(None, self._append, records)

    def _append(self, records: bytes) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "ab") as stream:
            stream.write(records)
            stream.flush()
            os.fsync(stream.fileno())


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
