"""Opening log files for reading: regular files only, never through a symbolic link.

Whoever can write to the log directory can put something else there under a log file's name
(``app.jsonl.1``):

- a FIFO or a device: opening a FIFO for reading waits for a writer, forever, and a device may
  never end; either would stop the tailer, the rotator or ``jarvis-logs`` for good. So the open
  never waits (``O_NONBLOCK``, which changes nothing for a regular file) and anything but a
  regular file is refused;
- a symbolic link to a file they may not read (``/etc/shadow``): followed, the shipper would
  send it to Elasticsearch and the rotator compress it into a ``.gz`` of the log directory,
  theirs to read. So the last component of a path is never followed (``O_NOFOLLOW``), as
  Filebeat follows no link by default; directories on the way may be links (the operator's).

These block on the disk: call them from an executor.
"""

from __future__ import annotations

import errno
import io
import os
import stat

# (device, inode, size, mtime in ns): changes whenever a file does (written, truncated,
# replaced on its inode), not when it is renamed.
FileVersion = tuple[int, int, int, int]

_NOT_REGULAR = "not a regular file (a FIFO, a device, a directory)"
_A_LINK = "a symbolic link (log files are read under their own name, never through a link)"


class NotARegularFile(OSError):
    """The path names a FIFO, a device, a socket, a directory or a symbolic link: nothing to
    read lines from. ``strerror`` says which."""


def open_regular(path: str) -> int:
    """A read-only descriptor of the regular file at ``path``; NotARegularFile when it is
    something else or a link, OSError when it cannot be opened."""
    try:
        descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC | os.O_NOFOLLOW)
    except OSError as error:
        if error.errno == errno.ELOOP and os.path.islink(path):
            raise NotARegularFile(errno.ELOOP, _A_LINK, path) from None
        raise
    try:
        mode = os.fstat(descriptor).st_mode
    except BaseException:
        os.close(descriptor)
        raise
    if not stat.S_ISREG(mode):
        os.close(descriptor)
        raise NotARegularFile(errno.EINVAL, _NOT_REGULAR, path)
    return descriptor


def open_regular_stream(path: str) -> io.BufferedReader:
    """``open_regular``, as a buffered binary stream (closing it closes the descriptor)."""
    return open(open_regular(path), "rb")


def version_of(path: str) -> FileVersion | None:
    """The version of the regular file at ``path`` now; None when it is gone, or is no
    regular file (a link to one included: no file is read through a link)."""
    try:
        found = os.lstat(path)
    except FileNotFoundError:
        return None
    if not stat.S_ISREG(found.st_mode):
        return None
    return found.st_dev, found.st_ino, found.st_size, found.st_mtime_ns
