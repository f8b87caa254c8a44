"""Which file is which, independent of its name.

A file is known by the fingerprint of its first line (at most ``FINGERPRINT_BYTES``,
newline included), and while open by its device and inode. Log files are only
appended to, so that prefix never changes once written: the fingerprint is stable as
the file grows, survives a rename, and tells a reused inode or a copy-truncated file
from the old content. Unlike Filebeat, small files need no minimum size: one complete
line is enough.

The functions here do blocking I/O; call them from an executor.
"""

from __future__ import annotations

import gzip
import hashlib
import os

FINGERPRINT_BYTES = 256


def fingerprint_of(head: bytes) -> str | None:
    """Fingerprint of a file starting with ``head``; None while its first line is incomplete."""
    newline = head.find(b"\n", 0, FINGERPRINT_BYTES)
    if newline >= 0:
        prefix = head[: newline + 1]
    elif len(head) >= FINGERPRINT_BYTES:
        prefix = head[:FINGERPRINT_BYTES]
    else:
        return None
    return hashlib.blake2b(prefix, digest_size=16).hexdigest()


def fingerprint_fd(fd: int) -> str | None:
    """Fingerprint of the open file ``fd`` as it is now (None while too short)."""
    return fingerprint_of(os.pread(fd, FINGERPRINT_BYTES, 0))


def fingerprint_path(path: str, compressed: bool = False) -> str | None:
    """Fingerprint of the file at ``path`` (decompressing a gzip backup); None if unreadable."""
    try:
        if compressed:
            with gzip.open(path, "rb") as stream:
                return fingerprint_of(stream.read(FINGERPRINT_BYTES))
        with open(path, "rb") as stream:
            return fingerprint_of(stream.read(FINGERPRINT_BYTES))
    except (OSError, EOFError):
        return None
