"""Which file is which, independent of its name.

Three facts tell files apart, none enough alone:

- the **head**: a hash of the first line (at most ``HEAD_BYTES``, newline included). Log
  files are only appended to, so it never changes once written; but many files can start
  with the same line (a writer's header, a copy).
- the **inode** (device and inode number): tells apart files that exist at the same time,
  and follows a file through renames; but it is reused once a file is deleted, and a copy
  gets a new one.
- **anchors**: a hash of the ``ANCHOR_BYTES`` just before an offset already read. A file
  that is still the one we read holds the same bytes there; a file rewritten in place, a
  new file on a reused inode, one truncated below it, does not (the bytes differ or are
  gone). A copy of the file (copy-truncate, a gzip made by someone else) holds them too.

A file's **identity**, the prefix of every ``_id`` of its lines, is a hash of its head, the
inode it was first seen on and a generation that counts the files seen on that inode with
that head: deterministic (recomputed the same after a crash, so a line re-sent keeps its
``_id``) and different for every file, identical first lines or not.

The functions reading files do blocking I/O; call them from an executor.
"""

from __future__ import annotations

import enum
import gzip
import hashlib
import os
import zlib
from dataclasses import dataclass
from typing import BinaryIO

from shipper.source.regular_files import open_regular_stream

HEAD_BYTES = 256
ANCHOR_BYTES = 256


@dataclass(frozen=True, slots=True)
class Head:
    """The first line of a file (or its first ``HEAD_BYTES``): its hash and length."""

    digest: str
    length: int


@dataclass(frozen=True, slots=True)
class Anchor:
    """The hash of the (at most) ``ANCHOR_BYTES`` of a file just before ``offset``."""

    offset: int
    digest: str


def head_of(first_bytes: bytes) -> Head | None:
    """The head of a file starting with ``first_bytes``; None while its first line is incomplete."""
    newline = first_bytes.find(b"\n", 0, HEAD_BYTES)
    if newline >= 0:
        prefix = first_bytes[: newline + 1]
    elif len(first_bytes) >= HEAD_BYTES:
        prefix = first_bytes[:HEAD_BYTES]
    else:
        return None
    return Head(_digest(prefix), len(prefix))


def head_of_fd(fd: int) -> Head | None:
    """The head of the open file ``fd`` as it is now (None while too short)."""
    return head_of(os.pread(fd, HEAD_BYTES, 0))


def head_of_gzip(stream: BinaryIO) -> Head | None:
    """The head of the content of the gzip file open as ``stream``; None if unreadable."""
    try:
        return head_of(gzip.GzipFile(fileobj=stream).read(HEAD_BYTES))
    except (OSError, EOFError, zlib.error):
        return None


def file_identity(head: str, dev: int, ino: int, generation: int) -> str:
    """The identity of the ``generation``-th file seen on inode (``dev``, ``ino``) with ``head``."""
    return _digest(f"{head}/{dev}/{ino}/{generation}".encode())


def anchor_in(window: bytes, window_end: int, offset: int) -> Anchor:
    """The anchor at ``offset`` of a file whose bytes just before ``window_end`` are ``window``
    (it must reach back to ``offset - ANCHOR_BYTES``, or to the start of the file)."""
    stop = len(window) - (window_end - offset)
    return Anchor(offset, _digest(window[max(0, stop - ANCHOR_BYTES) : stop]))


def anchor_window(offset: int) -> tuple[int, int]:
    """Where the bytes of the anchor at ``offset`` start, and how many there are."""
    length = min(offset, ANCHOR_BYTES)
    return offset - length, length


def holds_fd(fd: int, anchor: Anchor) -> bool:
    """True when the open file ``fd`` holds, just before ``anchor.offset``, the anchor's bytes."""
    start, length = anchor_window(anchor.offset)
    data = os.pread(fd, length, start)
    return len(data) == length and _digest(data) == anchor.digest


class Check(enum.Enum):
    """What a file says about an anchor."""

    HOLDS = "holds"
    DIFFERS = "differs"
    TOO_SHORT = "too short"  # it ends before the anchor, or cannot be read that far
    UNSURE = "unsure"  # the path names another file now (renamed meanwhile), or none


def check_anchor(path: str, compressed: bool, inode: tuple[int, int], anchor: Anchor) -> Check:
    """Whether the file at ``path``, if still the one on ``inode``, holds the anchor's bytes."""
    start, length = anchor_window(anchor.offset)
    try:
        raw = open_regular_stream(path)
    except OSError:
        return Check.UNSURE
    with raw:
        stat = os.fstat(raw.fileno())
        if (stat.st_dev, stat.st_ino) != inode:
            return Check.UNSURE
        try:
            if compressed:
                stream = gzip.GzipFile(fileobj=raw)
                stream.seek(start)
                data = stream.read(length)
            else:
                data = os.pread(raw.fileno(), length, start)
        except (OSError, EOFError, zlib.error):
            return Check.TOO_SHORT  # a damaged gzip: it can tell nothing either
    if len(data) < length:
        return Check.TOO_SHORT
    return Check.HOLDS if _digest(data) == anchor.digest else Check.DIFFERS


def _digest(data: bytes) -> str:
    return hashlib.blake2b(data, digest_size=16).hexdigest()
