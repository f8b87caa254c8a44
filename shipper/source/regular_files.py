"""Opening log files for reading: regular files only.

Whoever can write to the log directory can put a FIFO or a device there under a log file's
name (``app.jsonl.1``). Opening a FIFO for reading waits for a writer, forever, and a device
may never end: either would stop the tailer, the rotator or ``jarvis-logs`` for good. So the
open never waits (``O_NONBLOCK``, which changes nothing for a regular file) and anything but a
regular file is refused.

These block on the disk: call them from an executor.
"""

from __future__ import annotations

import errno
import io
import os
import stat


class NotARegularFile(OSError):
    """The path names a FIFO, a device, a socket or a directory: nothing to read lines from."""


def open_regular(path: str) -> int:
    """A read-only descriptor of the regular file at ``path``; NotARegularFile when it is
    something else, OSError when it cannot be opened."""
    descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        mode = os.fstat(descriptor).st_mode
    except BaseException:
        os.close(descriptor)
        raise
    if not stat.S_ISREG(mode):
        os.close(descriptor)
        raise NotARegularFile(errno.EINVAL, "not a regular file", path)
    return descriptor


def open_regular_stream(path: str) -> io.BufferedReader:
    """``open_regular``, as a buffered binary stream (closing it closes the descriptor)."""
    return open(open_regular(path), "rb")
