"""The registry: per file (by identity, see ``source/identity.py``), the offset up to which
Elasticsearch has acknowledged every line, and what tells that file apart from the others.
It is what a restarted shipper resumes from.

Saved atomically (temp file, fsync, rename, fsync of the directory) in an executor,
so a crash leaves either the old or the new registry, never a torn one.

Format (version 2)::

    {"version": 2, "saved_at": <epoch seconds>,
     "files": {"<identity>": {"path": ..., "offset": <acknowledged>, "size": <last seen>,
                              "head": "<first-line hash>", "dev": ..., "ino": ...,
                              "generation": <n>, "anchors": [[<offset>, "<hash>"], ...]}},
     "generations": [[<dev>, <ino>, "<head>", <highest generation>], ...]}

``generations`` remembers, for the last ``GENERATIONS_KEPT`` (inode, head) pairs given an
identity, the highest generation given, also once their files are forgotten: a file
recreated later on the same inode with the same first line gets the next one, never the
identity (and so the ``_id``\\s, already stored) of its predecessor.

A version 1 registry (keyed by the hash of the first line, which was the whole identity)
is read as entries whose identity stays that hash, so the ``_id``\\s of their lines do not
change across the upgrade; not knowing their inode, each is taken up by the first file
with that first line, at least as long as the saved offset, found at the saved path (any
path if none is); other files with that first line, which version 1 could not tell
apart, get an identity of their own and are read from their start.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from shipper.file_progress import FileProgress
from shipper.source.identity import Anchor, file_identity

FORMAT_VERSION = 2
GENERATIONS_KEPT = 1024


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
        # (dev, ino, head) -> highest generation given, least recently given first.
        self._generations: dict[tuple[int, int, str], int] = {}
        # Identities given since the last save: no line may be sent under one before it is
        # saved, or a crash could give it again to another file.
        self._created: set[str] = set()
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

    def create(self, head: str, dev: int, ino: int, path: str) -> FileProgress:
        """A new file, first seen on inode (``dev``, ``ino``) with first line ``head``: the
        next generation on that inode and head, so an identity never given before."""
        key = (dev, ino, head)
        used = [p.generation for p in self._files.values() if (p.dev, p.ino, p.head) == key]
        generation = max([self._generations.pop(key, -1), *used]) + 1
        self._remember_generation(key, generation)
        progress = self.get_or_create(file_identity(head, dev, ino, generation), path)
        progress.head, progress.dev, progress.ino = head, dev, ino
        progress.generation = generation
        self._created.add(progress.fingerprint)
        return progress

    def unsaved(self, fingerprint: str) -> bool:
        """True when the identity was given since the registry was last saved."""
        return fingerprint in self._created

    def by_inode(self) -> dict[tuple[int, int, str], FileProgress]:
        """Per (dev, ino, head): the file last seen on that inode with that first line (the
        newest, if several), unless it was seen replaced there."""
        found: dict[tuple[int, int, str], FileProgress] = {}
        for progress in self._files.values():
            if progress.dev is None or progress.ino is None or progress.replaced:
                continue
            key = (progress.dev, progress.ino, progress.head)
            if key not in found or found[key].generation < progress.generation:
                found[key] = progress
        return found

    def forget(self, fingerprint: str) -> None:
        self._files.pop(fingerprint, None)

    def released_file_removed(self, dev: int, ino: int) -> None:
        """The file released to the rotator on this inode is now compressed or deleted: the
        tailer forgets it at its first round that no longer lists it (its generation is
        remembered). Not at once: a round that listed the file before it went would take
        it, entry gone, for a new file never read. A new file given the inode meanwhile
        is not concerned."""
        for progress in self._files.values():
            if (progress.dev, progress.ino) == (dev, ino) and progress.released:
                progress.removed = True

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
        try:
            raw = await loop.run_in_executor(None, self._read)
        except OSError as error:
            # A directory in its place, no permission, a failing disk: nothing to resume from,
            # and shipping everything again is the operator's call.
            raise RegistryUnreadable(
                f"registry {self.path} cannot be read ({error.strerror or error}); fix that, or "
                "move it away to ship every file from the start"
            ) from error
        if raw is None:
            return
        try:
            document = orjson.loads(raw)
            version = int(document.get("version", 1))
            if version > FORMAT_VERSION:
                raise ValueError(f"format version {version}, from a newer jarvis-shipper")
            for fingerprint, entry in document["files"].items():
                self._files[fingerprint] = _progress_of(fingerprint, entry, version)
            for dev, ino, head, generation in document.get("generations", []):
                self._remember_generation((int(dev), int(ino), str(head)), int(generation))
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError) as error:
            raise RegistryUnreadable(
                f"registry {self.path} is unreadable ({error}); move it away to ship every file "
                "from the start (lines already stored are not duplicated as long as each file "
                "is on the inode it was first seen on: same _id)"
            ) from error

    async def save(self) -> None:
        """Write the acknowledged offsets durably; concurrent calls are serialised."""
        document = {
            "version": FORMAT_VERSION,
            "saved_at": time.time(),
            "files": {p.fingerprint: _entry_of(p) for p in self._files.values()},
            "generations": [[*key, generation] for key, generation in self._generations.items()],
        }
        data = orjson.dumps(document, option=orjson.OPT_INDENT_2)
        created = set(self._created)
        async with self._save_lock:
            await asyncio.get_running_loop().run_in_executor(None, self._write, data)
        self._created -= created

    def _remember_generation(self, key: tuple[int, int, str], generation: int) -> None:
        self._generations[key] = max(generation, self._generations.pop(key, -1))
        while len(self._generations) > GENERATIONS_KEPT:
            del self._generations[next(iter(self._generations))]

    def _read(self) -> bytes | None:
        try:
            return self.path.read_bytes()
        except FileNotFoundError:
            return None

    def _write(self, data: bytes) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temp = self.path.with_name(self.path.name + ".tmp")
        try:
            with open(temp, "wb") as stream:
                stream.write(data)
                stream.flush()
                os.fsync(stream.fileno())
            os.replace(temp, self.path)
        except BaseException:
            # A disk that refused the data (full, failing) must not keep half of it either;
            # the previous registry is untouched.
            with contextlib.suppress(OSError):
                temp.unlink()
            raise
        directory = os.open(self.path.parent, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)


def _entry_of(progress: FileProgress) -> dict[str, Any]:
    return {
        "path": progress.path,
        "offset": progress.acked,
        "size": progress.size,
        "head": progress.head,
        "dev": progress.dev,
        "ino": progress.ino,
        "generation": progress.generation,
        "anchors": [[anchor.offset, anchor.digest] for anchor in progress.saved_anchors],
    }


def _progress_of(fingerprint: str, entry: dict[str, Any], version: int) -> FileProgress:
    progress = FileProgress(
        fingerprint,
        str(entry["path"]),
        acked=int(entry["offset"]),
        size=int(entry.get("size", 0)),
    )
    if version == 1:
        # The identity was the hash of the first line: the head is that same hash.
        progress.head = fingerprint
        return progress
    progress.head = str(entry["head"])
    if entry["dev"] is not None:
        progress.dev, progress.ino = int(entry["dev"]), int(entry["ino"])
    progress.generation = int(entry["generation"])
    progress.anchors = [Anchor(int(offset), str(digest)) for offset, digest in entry["anchors"]]
    return progress
