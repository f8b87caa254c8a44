"""Rotation by size, compression, and retention of the backups (in place of logrotate).

The live file is renamed to ``.1`` (older backups shift up by one); the server reopens
its path when it is moved, and the tailer reads the renamed file to its end, so no line
is lost or split. Data guarantee: a backup is compressed, and a backup past ``keep`` is
deleted, only once Elasticsearch has acknowledged every line of it; until then it is
held back, counted in ``shipper_files_held_back`` and logged.

A disk error (full, failing, over quota) while rotating, compressing or deleting leaves
the files as they were (a failed compression removes its temp file and keeps the plain
backup) and is reported to ``DiskHealth`` as target ``backup``; the next round tries again,
and the first round without an error ends the problem.
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import io
import logging
import os
import shutil
from collections.abc import Callable
from typing import Any

from shipper.disk_health import BACKUP, DiskHealth
from shipper.metrics import ShipperMetrics
from shipper.registry import FileRegistry
from shipper.source.backups import (
    COMPRESSING_SUFFIX,
    Backup,
    backup_path,
    backups_of,
    base_paths,
    compressing_temps_of,
    live_paths,
)
from shipper.source.regular_files import FileVersion, open_regular_stream, version_of

log = logging.getLogger("shipper.rotator")


class Rotator:
    def __init__(
        self,
        pattern: str,
        registry: FileRegistry,
        settled: Callable[[FileVersion], bool],
        metrics: ShipperMetrics,
        *,
        rotate_size: int,
        keep: int,
        interval: float,
        disk: DiskHealth | None = None,
    ) -> None:
        self._pattern = pattern
        self._registry = registry
        self._settled = settled
        self._metrics = metrics
        self._rotate_size = rotate_size
        self._keep = keep
        self._interval = interval
        self._held_back = 0
        self._disk = disk or DiskHealth(metrics)
        self._disk_errors_this_round = 0

    @property
    def held_back(self) -> int:
        """Backups kept uncompressed or undeleted at the last check."""
        return self._held_back

    async def run(self) -> None:
        """Check sizes and backups forever (until cancelled), whatever the disk does."""
        while True:
            try:
                await self.check_once()
            except OSError as error:
                # Reading a file's size or head failed (EIO, EACCES): that round is over.
                self._disk.failed(BACKUP, error.filename or self._pattern, error)
            await asyncio.sleep(self._interval)

    async def check_once(self) -> None:
        """Rotate every live file over the size limit, then compress and prune backups."""
        loop = asyncio.get_running_loop()
        self._disk_errors_this_round = 0
        for path in await loop.run_in_executor(None, live_paths, self._pattern):
            version = await loop.run_in_executor(None, version_of, path)
            if version is None:
                continue  # gone, or no regular file (a link: left alone, as the tailer does)
            size = version[2]
            if size < self._rotate_size:
                continue
            try:
                rotated = await loop.run_in_executor(None, _rotate, path)
            except OSError as error:
                self._disk_failed(path, error)
                continue
            if rotated:
                self._metrics.files_rotated.inc({})
                log.info("rotated", extra={"path": path, "size": size})
            else:
                log.error("cannot rotate: backup .1 is in the way", extra={"path": path})
        held = 0
        for base in await loop.run_in_executor(None, base_paths, self._pattern):
            held += await self._tidy(base)
        if held != self._held_back:
            # One file held is the usual state just after a rotation (still being read).
            level = logging.WARNING if held > max(self._held_back, 1) else logging.INFO
            log.log(
                level,
                "rotated files held back until Elasticsearch acknowledges them",
                extra={"files_held_back": held},
            )
        self._held_back = held
        self._metrics.files_held_back.set({}, held)
        if not self._disk_errors_this_round:
            self._disk.succeeded(BACKUP)

    async def _tidy(self, base: str) -> int:
        """Compress settled backups, delete compressed ones past ``keep``; count held ones."""
        loop = asyncio.get_running_loop()
        # A compression cut short by a crash leaves its temp file; the backup itself is intact.
        await self._attempt(base, _remove_stale_temps, base)
        held = 0
        for backup in await loop.run_in_executor(None, backups_of, base):
            if backup.compressed:
                if backup.index > self._keep:
                    await self._attempt(backup.path, _remove, backup.path)
                continue
            # Known by its inode: another file (the live one, a backup) may share its first line.
            version = await loop.run_in_executor(None, version_of, backup.path)
            if version is None:
                continue  # gone since the listing, or no regular file: nothing of ours to hold
            if not self._settled(version):
                held += 1
                continue
            if backup.index > self._keep:
                done = await self._attempt(backup.path, _remove, backup.path)
            else:
                done = await self._attempt(backup.path, _compress, backup)
            if not done:
                # Still there as it was: the registry keeps it until the next round's try.
                continue
            # Its lines are all stored: the registry need not remember this file any more.
            self._registry.released_file_removed(*version[:2])
        return held

    async def _attempt(self, path: str, action: Callable[..., None], *args: Any) -> bool:
        """Run a file operation in an executor; False when the disk refused it (reported)."""
        try:
            await asyncio.get_running_loop().run_in_executor(None, action, *args)
        except OSError as error:
            self._disk_failed(path, error)
            return False
        return True

    def _disk_failed(self, path: str, error: OSError) -> None:
        self._disk_errors_this_round += 1
        self._disk.failed(BACKUP, path, error)


def _rotate(path: str) -> bool:
    for backup in reversed(backups_of(path)):
        target = backup_path(path, backup.index + 1, backup.compressed)
        if not os.path.exists(target):
            os.rename(backup.path, target)
    first = backup_path(path, 1)
    if os.path.exists(first):
        return False
    os.rename(path, first)
    return True


def _compress(backup: Backup) -> None:
    target = backup_path(backup.path[: -len(f".{backup.index}")], backup.index, compressed=True)
    temp = backup.path + COMPRESSING_SUFFIX
    try:
        with (
            open_regular_stream(backup.path) as source,
            _create_new(temp, os.fstat(source.fileno()).st_mode & 0o777) as written,
            gzip.GzipFile(filename="", mode="wb", compresslevel=6, fileobj=written) as sink,
        ):
            shutil.copyfileobj(source, sink, 1024 * 1024)
            sink.close()  # the gzip trailer, then all of it on disk
            written.flush()
            os.fsync(written.fileno())
        os.replace(temp, target)
    except BaseException:
        # The plain backup is intact: a half-written gzip would only take the space it lacks.
        with contextlib.suppress(OSError):
            os.remove(temp)
        raise
    os.remove(backup.path)


def _create_new(path: str, mode: int) -> io.BufferedWriter:
    """A file made for writing at ``path`` with the permissions ``mode`` (the backup's own: a
    compressed log is no more readable than the log was). Nothing may be there yet: a link
    put there (to ``/etc/passwd``) would otherwise have its target overwritten."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    descriptor = os.open(path, flags, mode)
    try:
        os.fchmod(descriptor, mode)  # whatever the umask
    except BaseException:
        os.close(descriptor)
        raise
    return open(descriptor, "wb")


def _remove_stale_temps(base: str) -> None:
    for temp in compressing_temps_of(base):
        _remove(temp)


def _remove(path: str) -> None:
    try:
        os.remove(path)
    except FileNotFoundError:
        pass
