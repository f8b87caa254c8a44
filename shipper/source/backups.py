"""How rotated backups are named and told apart: the rule the rotator writes by and every
reader (the tailer, ``jarvis-logs --source files``) reads by.

A live file ``app.jsonl`` has backups ``app.jsonl.1`` (newest), ``app.jsonl.2``, ... each
possibly gzip-compressed as ``app.jsonl.N.gz``. A compression in progress writes
``app.jsonl.N.gz.tmp`` first.
"""

from __future__ import annotations

import glob
import os
import re
from dataclasses import dataclass

ROTATED_SUFFIX = re.compile(r"\.(\d+)(\.gz)?$")
COMPRESSING_SUFFIX = ".gz.tmp"
GZIP_MAGIC = b"\x1f\x8b"


@dataclass(frozen=True, slots=True)
class Backup:
    """A rotated file next to a live one: ``<live>.<index>`` or ``<live>.<index>.gz``."""

    path: str
    index: int
    compressed: bool


def is_backup(path: str) -> bool:
    return ROTATED_SUFFIX.search(path) is not None


def backup_path(base: str, index: int, compressed: bool = False) -> str:
    return f"{base}.{index}" + (".gz" if compressed else "")


def live_paths(pattern: str) -> list[str]:
    """The files the pattern names now, rotated backups excluded."""
    return sorted(
        path for path in glob.glob(pattern) if not is_backup(path) and os.path.isfile(path)
    )


def pattern_directory(pattern: str) -> str:
    """The directory the files of ``pattern`` are found in: its deepest one without a
    wildcard (``.`` for a bare name)."""
    directory = os.path.dirname(pattern)
    while glob.has_magic(directory):
        directory = os.path.dirname(directory)
    return directory or "."


def base_paths(pattern: str) -> list[str]:
    """Live paths whose backups to look for (a literal path counts even while it is absent)."""
    bases = set(live_paths(pattern))
    if not glob.has_magic(pattern):
        bases.add(pattern)
    return sorted(bases)


def backups_of(base: str) -> list[Backup]:
    """The rotated backups of ``base``, lowest index (newest) first; none when its directory
    does not exist. A directory that cannot be listed (no permission, out of file
    descriptors) raises its OSError: taken for empty, it would have its backups taken for
    gone."""
    directory, name = os.path.split(base)
    try:
        entries = os.listdir(directory or ".")
    except FileNotFoundError:
        return []
    found = []
    for entry in entries:
        match = ROTATED_SUFFIX.fullmatch(entry, len(name)) if entry.startswith(name) else None
        if match:
            path = os.path.join(directory, entry)
            found.append(Backup(path, int(match.group(1)), match.group(2) is not None))
    return sorted(found, key=lambda backup: (backup.index, backup.compressed))


def compressing_temps_of(base: str) -> list[str]:
    """Temp files of compressions of ``base``'s backups (cut short by a crash, or running)."""
    return glob.glob(glob.escape(base) + ".*" + COMPRESSING_SUFFIX)


def is_gzip(head: bytes) -> bool:
    """True when a file starting with ``head`` is gzip-compressed, whatever its name."""
    return head.startswith(GZIP_MAGIC)
