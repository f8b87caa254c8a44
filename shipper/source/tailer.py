"""The source: follows the log files by identity and hands their complete lines downstream.

Files are followed by identity (``identity.py``, ``file_matcher.py``) and open
descriptor, not by name:
- renamed (rotated): the open descriptor is read to the end, until the file has been
  quiet for ``close_inactive`` seconds, then let go; the new live file starts at 0;
- deleted: the same, through the descriptor that still holds it;
- truncated, rewritten in place, or replaced while the shipper was down (a saved offset
  beyond the end of the file): a new file, read from 0 under an identity of its own;
- copy-truncated: the old content is finished from the copy (same identity, so the same
  ``_id``\\s) and the new content starts again at 0;
- several files starting with the same line, or a file recreated with the line of its
  predecessor: each its own identity, from its inode;
- not created yet, or without a complete first line: waited for;
- a compressed backup is read only if it is the copy of a file with unacknowledged lines.

Every line handed downstream is first tracked in its ``FileProgress``; the put on the
bounded queue waits while it is full, so reading pauses when the sink falls behind.

Delivery guarantee: a new file's identity is saved in the registry before any of its lines
is read, so no ``_id`` is ever sent under an identity a crash could forget and give again,
with the same generation, to the next file on that inode.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import zlib
from dataclasses import dataclass, field

from shipper.file_progress import FileProgress
from shipper.metrics import ShipperMetrics
from shipper.registry import FileRegistry
from shipper.source.file_matcher import FileMatcher
from shipper.source.files import Candidate, FileSource, open_source, scan, why
from shipper.source.identity import ANCHOR_BYTES, Anchor, Head, anchor_in, anchor_window
from shipper.source.line_decoder import Line, LineDecoder
from shipper.source.regular_files import FileVersion

log = logging.getLogger("shipper.tailer")

# A file missing from disk this long, with lines never read, is given up on.
FORGET_MISSING_AFTER = 300.0
# A file all shipped is forgotten once missing this long: not at once, as a file renamed
# while the directory is listed (rotation) can be missed by one round; forgotten, its
# identity would be lost, and its lines sent again under a new one.
FORGET_GONE_AFTER = 10.0
# Warned of a file that exists but cannot be opened, before why.
_CANNOT_OPEN = "cannot open file, it is kept until it can be: "


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
    # The last bytes read (at most ANCHOR_BYTES), to take anchors from.
    tail: bytes
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
        self._matcher = FileMatcher(registry)
        self._readers: dict[str, _Reader] = {}
        # The identity found in each file (as it was then) at the last discovery.
        self._found: dict[FileVersion, str] = {}
        self._gzip_heads: dict[tuple[int, int, int], Head | None] = {}
        # Why files could not be looked at or opened at this round, and at the one before
        # (each is warned about when it starts).
        self._problems: set[tuple[str, str]] = set()
        self._problems_before: set[tuple[str, str]] = set()
        self._gzip_done: set[tuple[int, int]] = set()

    def settled(self, version: FileVersion) -> bool:
        """True when the file, as it is now (``version``: inode, size, mtime), was recognised
        at the last discovery, is let go, and every line of it is acknowledged: it is then
        released to the caller (the rotator) to compress or delete. Known by its inode,
        never by its content (another file may start with the same line); and not settled
        once written again (a writer late to reopen its file) or replaced on its inode
        since that discovery, until the next one has read it as it is."""
        fingerprint = self._found.get(version)
        if fingerprint is None or fingerprint in self._readers:
            return False
        progress = self._registry.get(fingerprint)
        if progress is None or not progress.complete:
            return False
        progress.released = True
        return True

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
        found = await loop.run_in_executor(None, scan, self._pattern, self._gzip_heads)
        self._problems_before, self._problems = self._problems, set()
        for path, what in found.not_regular:
            self._problem(path, f"{what}: left alone")
        for path, error in found.unreadable:
            self._problem(path, _CANNOT_OPEN + error)
        candidates = found.candidates
        if not found.unreadable:  # else a live file may only have been missed
            live_inodes = {c.inode for c in candidates if c.live}
            for reader in self._readers.values():
                reader.live = (reader.source.dev, reader.source.ino) in live_inodes
        matches = await self._matcher.match(candidates, self._readers.keys())
        for match in matches.found:
            match.progress.missing_since = None
            if match.progress.fingerprint not in self._readers and not match.candidate.compressed:
                match.progress.size = match.candidate.size
        for match in matches.found:
            await self._consider(match.candidate, match.progress)
        # Published once every file found is sized and opened: ``settled`` never sees a new
        # entry, not read yet, as complete.
        self._found = {m.candidate.version: m.progress.fingerprint for m in matches.found}
        if not found.unreadable:
            # (A file that could not be looked at may be any known one: none is gone then.)
            self._forget_missing({m.progress.fingerprint for m in matches.found} | matches.unsure)

    def _problem(self, path: str, message: str) -> None:
        """Note why ``path`` is not read at this round; warned about once, when it starts."""
        problem = (path, message)
        if problem not in self._problems_before and problem not in self._problems:
            log.warning(message, extra={"path": path})
        self._problems.add(problem)

    async def _consider(self, candidate: Candidate, progress: FileProgress) -> None:
        reader = self._readers.get(progress.fingerprint)
        if reader is not None:
            if (reader.source.dev, reader.source.ino) == candidate.inode:
                reader.path = progress.path = candidate.path
            return
        progress.path = candidate.path
        if candidate.compressed:
            if candidate.inode in self._gzip_done:
                return
        elif progress.read >= candidate.size and not candidate.live:
            return
        if self._registry.unsaved(progress.fingerprint):
            try:
                await self._registry.save()
            except OSError as error:
                log.warning(
                    "new file waits until the registry can be saved",
                    extra={"path": candidate.path, "error": str(error)},
                )
                return
        await self._open(candidate, progress)

    async def _open(self, candidate: Candidate, progress: FileProgress) -> None:
        loop = asyncio.get_running_loop()
        try:
            source = await loop.run_in_executor(
                None, open_source, candidate.path, candidate.compressed
            )
        except FileNotFoundError:
            return  # renamed away since the listing: the next round finds it
        except OSError as error:
            self._problem(candidate.path, _CANNOT_OPEN + why(error))
            return
        tail = None
        # Another file under that name (renamed meanwhile): the next round finds it again.
        if (source.dev, source.ino) == candidate.inode:
            with contextlib.suppress(OSError, EOFError, zlib.error):
                tail = await loop.run_in_executor(None, source.window, progress.read)
        if tail is None:
            source.close()
            return
        if progress.read > 0 and len(tail) == anchor_window(progress.read)[1]:
            progress.mark(anchor_in(tail, progress.read, progress.read))
        progress.released = False
        self._readers[progress.fingerprint] = _Reader(
            source=source,
            progress=progress,
            decoder=LineDecoder(progress.read, self._max_line_bytes),
            path=candidate.path,
            live=candidate.live,
            compressed=candidate.compressed,
            tail=tail,
        )
        log.info(
            "following file",
            extra={
                "path": candidate.path,
                "offset": progress.read,
                "live": candidate.live,
                "identity": progress.fingerprint,
                "inode": candidate.ino,
                "generation": progress.generation,
            },
        )

    async def _drain(self, fingerprint: str, reader: _Reader) -> None:
        loop = asyncio.get_running_loop()
        progress = reader.progress
        while True:
            anchor = progress.anchors[-1] if progress.anchors else None
            chunk = await loop.run_in_executor(
                None,
                reader.source.read,
                reader.decoder.position,
                self._chunk,
                progress.head,
                anchor,
            )
            if chunk.replaced:
                log.warning(
                    "file truncated or replaced, its new content is a new file",
                    extra={"path": reader.path, "offset": reader.decoder.position},
                )
                progress.replaced = True
                self._close(fingerprint, reader, flush=False)
                return
            if chunk.size is not None:
                progress.size = max(progress.size, chunk.size)
            if chunk.data:
                reader.last_growth = time.monotonic()
                if reader.compressed:
                    progress.size = max(progress.size, reader.decoder.position + len(chunk.data))
                self._metrics.bytes_read.add({}, len(chunk.data))
                window = reader.tail + chunk.data
                reader.tail = window[-ANCHOR_BYTES:]
                lines = reader.decoder.feed(chunk.data)
                if lines:
                    end = reader.decoder.position
                    await self._emit(reader, lines, anchor_in(window, end, lines[-1].end))
            if len(chunk.data) < self._chunk:
                break
        if self._finished(reader):
            self._close(fingerprint, reader, flush=True)
            final = reader.decoder.flush()
            if final is not None:
                await self._emit(reader, [final], anchor_in(reader.tail, final.end, final.end))

    def _finished(self, reader: _Reader) -> bool:
        if reader.compressed:
            return True
        quiet = time.monotonic() - reader.last_growth >= self._close_inactive
        return not reader.live and quiet

    async def _emit(self, reader: _Reader, lines: list[Line], anchor: Anchor) -> None:
        """Track ``lines`` (ending at ``anchor``) in their file's progress and hand them on."""
        progress = reader.progress
        group: list[Line] = []
        read_at = time.monotonic()
        if all(line.data for line in lines):
            progress.track_lines(lines, read_at)
            group = lines
        else:
            for line in lines:
                if line.data:
                    progress.track(line.start, line.end, read_at)
                    group.append(line)
                else:
                    progress.skip(line.start, line.end)
        progress.mark(anchor)
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
            if progress.removed:
                # Gone for sure (deleted, or compressed), and now no longer listed either.
                self._registry.forget(progress.fingerprint)
                continue
            if progress.pending:
                continue
            if progress.missing_since is None:
                progress.missing_since = now
            elif progress.acked >= progress.size:
                if now - progress.missing_since > FORGET_GONE_AFTER:
                    self._registry.forget(progress.fingerprint)
            elif now - progress.missing_since > FORGET_MISSING_AFTER:
                log.error(
                    "file gone before all its lines were read",
                    extra={"path": progress.path, "unread_bytes": progress.lag_bytes},
                )
                self._registry.forget(progress.fingerprint)
