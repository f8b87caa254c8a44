"""The source: follows the log files by identity and hands their complete lines downstream.

Files are followed by fingerprint and open descriptor, not by name:
- renamed (rotated): the open descriptor is read to the end, until the file has been
  quiet for ``close_inactive`` seconds, then let go; the new live file starts at 0;
- deleted: the same, through the descriptor that still holds it;
- truncated or copy-truncated: the old content is finished from the copy (same
  fingerprint, so the same ``_id``\\s) and the new content starts again at 0;
- not created yet, or without a complete first line: waited for;
- a compressed backup is read only if the registry says it holds unacknowledged lines.

Every line handed downstream is first tracked in its ``FileProgress``; the put on the
bounded queue waits while it is full, so reading pauses when the sink falls behind.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field

from shipper.file_progress import FileProgress
from shipper.metrics import ShipperMetrics
from shipper.registry import FileRegistry
from shipper.source.files import Candidate, FileSource, open_source, scan
from shipper.source.line_decoder import Line, LineDecoder

log = logging.getLogger("shipper.tailer")

# A file missing from disk this long, with lines never read, is given up on.
FORGET_MISSING_AFTER = 300.0


@dataclass(frozen=True, slots=True)
class LineGroup:
    """Consecutive complete lines of one file."""

    progress: FileProgress
    path: str
    lines: list[Line]


LineQueue = asyncio.Queue[LineGroup | None]


@dataclass
class _Reader:
    source: FileSource
    progress: FileProgress
    decoder: LineDecoder
    path: str
    live: bool
    compressed: bool
    last_growth: float = field(default_factory=time.monotonic)


class Tailer:
    def __init__(
        self,
        pattern: str,
        registry: FileRegistry,
        lines: LineQueue,
        metrics: ShipperMetrics,
        *,
        max_line_bytes: int,
        read_chunk_bytes: int,
        poll_interval: float,
        close_inactive: float,
    ) -> None:
        self._pattern = pattern
        self._registry = registry
        self._lines = lines
        self._metrics = metrics
        self._max_line_bytes = max_line_bytes
        self._chunk = read_chunk_bytes
        self._poll_interval = poll_interval
        self._close_inactive = close_inactive
        self._readers: dict[str, _Reader] = {}
        self._gzip_fingerprints: dict[tuple[int, int, int], str | None] = {}
        self._gzip_done: set[tuple[int, int]] = set()

    def settled(self, fingerprint: str) -> bool:
        """True when the file is let go and every line of it is acknowledged."""
        progress = self._registry.get(fingerprint)
        return fingerprint not in self._readers and progress is not None and progress.complete

    async def run(self) -> None:
        """Poll the files forever (until cancelled), reading whatever they gained."""
        try:
            while True:
                await self.poll_once()
                await asyncio.sleep(self._poll_interval)
        finally:
            for reader in self._readers.values():
                reader.source.close()
            self._readers.clear()

    async def poll_once(self) -> None:
        """One round: find files, read each one up to its current end."""
        await self._discover()
        for fingerprint, reader in list(self._readers.items()):
            await self._drain(fingerprint, reader)

    async def _discover(self) -> None:
        loop = asyncio.get_running_loop()
        candidates = await loop.run_in_executor(None, scan, self._pattern, self._gzip_fingerprints)
        live_inodes = {(c.dev, c.ino) for c in candidates if c.live}
        for reader in self._readers.values():
            reader.live = (reader.source.dev, reader.source.ino) in live_inodes
        seen: set[str] = set()
        for candidate in candidates:
            if candidate.fingerprint is None:
                continue
            seen.add(candidate.fingerprint)
            await self._consider(candidate, candidate.fingerprint)
        self._forget_missing(seen)

    async def _consider(self, candidate: Candidate, fingerprint: str) -> None:
        progress = self._registry.get(fingerprint)
        if progress is not None:
            progress.missing_since = None
        reader = self._readers.get(fingerprint)
        if reader is not None:
            if (reader.source.dev, reader.source.ino) == (candidate.dev, candidate.ino):
                reader.path = candidate.path
            return
        if candidate.compressed:
            # Compressed only once fully acknowledged: read it only when the registry
            # still expects lines from it (it was compressed by someone else).
            if progress is None or (candidate.dev, candidate.ino) in self._gzip_done:
                return
        elif progress is not None:
            progress.size = candidate.size
            if progress.read >= candidate.size and not candidate.live:
                return
        await self._open(candidate, fingerprint)

    async def _open(self, candidate: Candidate, fingerprint: str) -> None:
        loop = asyncio.get_running_loop()
        try:
            source = await loop.run_in_executor(
                None, open_source, candidate.path, candidate.compressed
            )
        except OSError:
            return
        progress = self._registry.get_or_create(fingerprint, candidate.path)
        progress.path = candidate.path
        if not candidate.compressed:
            progress.size = max(progress.size, candidate.size)
        self._readers[fingerprint] = _Reader(
            source=source,
            progress=progress,
            decoder=LineDecoder(progress.read, self._max_line_bytes),
            path=candidate.path,
            live=candidate.live,
            compressed=candidate.compressed,
        )
        log.info(
            "following file",
            extra={"path": candidate.path, "offset": progress.read, "live": candidate.live},
        )

    async def _drain(self, fingerprint: str, reader: _Reader) -> None:
        loop = asyncio.get_running_loop()
        while True:
            chunk = await loop.run_in_executor(
                None, reader.source.read, reader.decoder.position, self._chunk, fingerprint
            )
            if chunk.replaced:
                log.warning(
                    "file truncated or replaced, starting its new content at 0",
                    extra={"path": reader.path, "offset": reader.decoder.position},
                )
                self._close(fingerprint, reader, flush=False)
                return
            if chunk.size is not None:
                reader.progress.size = max(reader.progress.size, chunk.size)
            if chunk.data:
                reader.last_growth = time.monotonic()
                if reader.compressed:
                    reader.progress.size = max(
                        reader.progress.size, reader.decoder.position + len(chunk.data)
                    )
                self._metrics.bytes_read.add({}, len(chunk.data))
                await self._emit(reader, reader.decoder.feed(chunk.data))
            if len(chunk.data) < self._chunk:
                break
        if self._finished(reader):
            self._close(fingerprint, reader, flush=True)
            final = reader.decoder.flush()
            if final is not None:
                await self._emit(reader, [final])

    def _finished(self, reader: _Reader) -> bool:
        if reader.compressed:
            return True
        quiet = time.monotonic() - reader.last_growth >= self._close_inactive
        return not reader.live and quiet

    async def _emit(self, reader: _Reader, lines: list[Line]) -> None:
        progress = reader.progress
        group: list[Line] = []
        for line in lines:
            if line.data:
                progress.track(line.start, line.end)
                group.append(line)
            else:
                progress.skip(line.start, line.end)
        if len(group) < len(lines):
            self._metrics.empty_lines.add({}, len(lines) - len(group))
        if group:
            self._metrics.events_read.add({}, len(group))
            await self._lines.put(LineGroup(progress, reader.path, group))

    def _close(self, fingerprint: str, reader: _Reader, flush: bool) -> None:
        del self._readers[fingerprint]
        reader.source.close()
        if reader.compressed:
            self._gzip_done.add((reader.source.dev, reader.source.ino))
        if flush:
            log.info(
                "file let go",
                extra={"path": reader.path, "offset": reader.decoder.position},
            )

    def _forget_missing(self, seen: set[str]) -> None:
        now = time.monotonic()
        for progress in self._registry:
            if progress.fingerprint in seen or progress.fingerprint in self._readers:
                continue
            if progress.pending:
                continue
            if progress.acked >= progress.size:
                self._registry.forget(progress.fingerprint)
            elif progress.missing_since is None:
                progress.missing_since = now
            elif now - progress.missing_since > FORGET_MISSING_AFTER:
                log.error(
                    "file gone before all its lines were read",
                    extra={"path": progress.path, "unread_bytes": progress.lag_bytes},
                )
                self._registry.forget(progress.fingerprint)
