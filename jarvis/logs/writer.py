"""The background writer: takes rendered JSON lines off a queue and appends them to stdout
and to the log file, in a thread of its own so that no event loop ever waits on a disk.

A line reaches the file whole or not at all. A write the disk cuts short (full, over quota,
failing) is cut back to the last whole line it wrote; should even that fail, the next write
starts with a newline, so the fragment ends there and the next line stands alone. Lines
that could not be written are counted as dropped (``write_error``), as are those a full
queue turned away (``queue_full``); the next batch tries the disk again, so writing resumes
by itself when space returns.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections import deque
from typing import BinaryIO, NamedTuple

_MAX_BATCH_LINES = 4096
# Lines wait this long for company before a write: one write per burst instead of per line.
# Each wake-up of the writer costs the server's core a switch and its file a stat and a write:
# at 5 ms that was 1.1 µs of CPU per access line under load, at 20 ms 0.4 µs. A queue half
# full wakes it sooner (``submit``): a small LOG_QUEUE_SIZE is not left to fill meanwhile.
_LINGER_SECONDS = 0.02
# While lines keep coming the writer wakes on the linger's timer alone; only after this many
# lingers without a line does it sleep until ``submit`` wakes it: waking a sleeping thread (a
# futex call, a switch) costs the caller more than the rest of logging a line.
_EMPTY_LINGERS_BEFORE_IDLE = 10

# Why a line was dropped: the labels of ``log_lines_dropped_total``.
QUEUE_FULL = "queue_full"
WRITE_ERROR = "write_error"
DROP_REASONS = (QUEUE_FULL, WRITE_ERROR)


# Whole lines submitted together, end to end, and how many.
_Joined = tuple[bytes, int]


class LogWriter:
    """Writes whole lines only; reopens the log file when it is renamed or deleted (rotation by
    the shipper), so every line lands either wholly in the old file or wholly in the new one."""

    def __init__(self, path: str | None, stdout: BinaryIO | None, queue_size: int = 10_000):
        self.path = path or None
        self._stdout = stdout
        self._capacity = queue_size
        # deque.append and popleft are atomic: the hot path takes no lock unless it has to
        # wake the writer, which it only does when the writer is idle or, once a linger, when
        # the queue is half full. An item is a line (``submit``) or several joined with their
        # number (``submit_joined``): the writer never counts a batch's newlines, which went
        # a byte at a time (some 2,000 instructions a line, on the server's core). The
        # lines queued are the items plus the lines beyond the first of each joined item:
        # counted as submitted by the one thread that calls ``submit_joined`` and as taken by
        # the writer's, each counter written by one thread only, so no lock is needed.
        self._pending: deque[bytes | _Joined] = deque()
        self._joined_extra_in = 0
        self._joined_extra_out = 0
        self._wakeup = threading.Event()
        self._idle = False
        # True while the writer holds lines it took off the queue and has not written yet.
        self._writing = False
        # Lines queued from which ``submit`` wakes a lingering writer, once a linger.
        self._hurry_at = max(1, queue_size // 2)
        self._hurried = False
        self._stopping = False
        self._fd: int | None = None
        self._identity: tuple[int, int] | None = None
        self._thread = threading.Thread(target=self._run, name="jarvis-log-writer", daemon=True)
        # True from start until the thread ends: ``submit`` reads it for every line, where
        # ``Thread.is_alive()`` takes a lock.
        self._thread_running = False
        # The file last left ending in part of a line, (dev, inode): the next write there
        # begins with a newline.
        self._torn: tuple[int, int] | None = None
        # Written by the writer's callers (queue_full) and its thread (write_error), read by
        # anyone: one int per key, so no lock is needed.
        self._dropped = dict.fromkeys(DROP_REASONS, 0)
        self.last_error: str | None = None

    def start(self) -> LogWriter:
        if self.path:
            self._open()
        self._thread_running = True
        self._thread.start()
        return self

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    @property
    def lines_dropped(self) -> dict[str, int]:
        """Lines dropped since start, by reason: ``queue_full`` (turned away by ``submit``)
        and ``write_error`` (not written to the log file, or to stdout without a file)."""
        return dict(self._dropped)

    def submit(self, line: bytes) -> None:
        """Queue one rendered line. Never blocks: when the queue is full the line is counted
        as dropped (reported by the log-sink health check) rather than stalling the server."""
        if not self._thread_running:
            self._write_batch([line], 1)
            return
        queued = self._queued_lines()
        if queued >= self._capacity:
            self._dropped[QUEUE_FULL] += 1
            return
        # Appended before ``_idle`` is read, as the writer sets ``_idle`` before it looks at
        # the queue a last time: however the two interleave, the line is not left waiting.
        self._pending.append(line)
        self._wake_if_needed(queued + 1)

    def submit_joined(self, joined: bytes, count: int) -> None:
        """``submit`` each of the ``count`` whole lines ``joined`` holds, end to end, in one
        go, from one thread only (the event loop's).

        They are queued as one object: the lines of a loop iteration, each held until the
        writer's next batch, cost the event loop more than making them (measured: some 7 µs a
        request held as lines, 1-2 µs joined). They still count one by one against the queue's
        room; those beyond it are dropped and counted."""
        if count <= 0:
            return
        if not self._thread_running:
            self._write_batch([joined], count)
            return
        queued = self._queued_lines()
        room = self._capacity - queued
        if room < count:
            kept = max(room, 0)
            self._dropped[QUEUE_FULL] += count - kept
            if not kept:
                return
            # The first ``kept`` lines, whole: the rest of the text is the last piece.
            joined = b"\n".join(joined.split(b"\n", kept)[:kept]) + b"\n"
            count = kept
        self._joined_extra_in += count - 1
        self._pending.append((joined, count))
        self._wake_if_needed(queued + count)

    def _wake_if_needed(self, queued: int) -> None:
        """Wake the writer if it sleeps until woken, or lingers while ``queued`` lines fill
        half the queue."""
        if self._idle:
            self._wakeup.set()
        elif queued >= self._hurry_at and not self._hurried:
            self._hurried = True
            self._wakeup.set()

    def _queued_lines(self) -> int:
        return len(self._pending) + self._joined_extra_in - self._joined_extra_out

    def flush(self, timeout: float = 5.0) -> bool:
        """Wait (blocking) until every line submitted before the call is written, or counted
        as dropped; False if that took over ``timeout`` seconds. For code that reads the file
        next (tests, a process about to report its end): the server never waits on it."""
        deadline = time.monotonic() + timeout
        while self._thread_running and (self._pending or self._writing):
            if time.monotonic() > deadline:
                return False
            self._wakeup.set()
            time.sleep(0.001)
        return True

    def stop(self, timeout: float = 10.0) -> None:
        """Write everything queued so far, then close the file."""
        if self._thread.is_alive():
            self._stopping = True
            self._wakeup.set()
            self._thread.join(timeout)
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def _run(self) -> None:
        try:
            self._write_until_stopped()
        finally:
            self._thread_running = False

    def _write_until_stopped(self) -> None:
        empty_lingers = 0
        while True:
            if not self._stopping:
                # Returns early when ``submit`` hurries it (a queue half full) or on ``stop``.
                self._wakeup.wait(_LINGER_SECONDS)
                # Cleared before the queue is read: a wake-up set after this is kept for the
                # next linger, never lost.
                self._wakeup.clear()
                self._hurried = False
            if not self._pending:
                if self._stopping:
                    return
                empty_lingers += 1
                if empty_lingers >= _EMPTY_LINGERS_BEFORE_IDLE:
                    self._sleep_until_woken()
                    empty_lingers = 0
                continue
            empty_lingers = 0
            # Set before the queue is read, so that ``flush`` never sees it empty and idle
            # while lines taken off it are not yet written.
            self._writing = True
            # Only the lines queued by now: chasing those that arrive while a batch is being
            # written would trade the GIL with the event loop every few lines, which cost the
            # loop more than rendering them.
            waiting = len(self._pending)
            take = self._pending.popleft
            while waiting > 0:
                count = min(waiting, _MAX_BATCH_LINES)
                pieces, lines = _unjoined([take() for _ in range(count)])
                self._write_batch(pieces, lines)
                self._joined_extra_out += lines - count
                waiting -= count
            self._writing = False

    def _sleep_until_woken(self) -> None:
        """Idle: wait for ``submit`` (or ``stop``) to set the wake-up event."""
        self._idle = True
        if not self._pending and not self._stopping:
            self._wakeup.wait()
        self._wakeup.clear()
        self._idle = False

    def _write_batch(self, batch: list[bytes], lines: int) -> None:
        """Write ``batch``: ``lines`` whole lines, some of its pieces holding several."""
        data = b"".join(batch)
        if self._stdout is not None:
            try:
                self._stdout.write(data)
                self._stdout.flush()
            except (OSError, ValueError) as exc:
                self.last_error = f"stdout: {exc}"
                if not self.path:
                    self._dropped[WRITE_ERROR] += lines
        if self.path:
            try:
                self._reopen_if_moved()
                self._append(data)
                self.last_error = None
            except _WriteCutShort as cut:
                self._dropped[WRITE_ERROR] += cut.lines_lost
                self.last_error = f"{self.path}: {cut.error.strerror or cut.error}"
                self._close_quietly()
            except OSError as exc:
                self._dropped[WRITE_ERROR] += lines
                self.last_error = f"{self.path}: {exc.strerror or exc}"
                self._close_quietly()

    def _append(self, data: bytes) -> None:
        """Append whole lines to the open file, or as many of them as the disk takes;
        ``_WriteCutShort`` says how many it did not."""
        assert self._fd is not None
        fd, file = self._fd, self._identity
        newline = b"\n" if file == self._torn else b""
        payload = newline + data
        written = _write_all(fd, payload)
        if written.error is None:
            self._torn = None
            return
        # Keep the whole lines that made it, cut off the part of a line after them. The file's
        # size is asked only now, on this rare path: every system call of the writer is one
        # more hand-over of the interpreter's lock between it and the event loop.
        kept = payload.rfind(b"\n", 0, written.nbytes) + 1
        try:
            if kept < written.nbytes:
                os.ftruncate(fd, os.fstat(fd).st_size - written.nbytes + kept)
        except OSError:
            self._torn = file
        else:
            if kept:
                self._torn = None
        lines_lost = data[max(0, kept - len(newline)) :].count(b"\n")
        raise _WriteCutShort(written.error, lines_lost)

    def _open(self) -> None:
        directory = os.path.dirname(self.path or "")
        if directory:
            os.makedirs(directory, exist_ok=True)
        assert self.path is not None
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        st = os.fstat(self._fd)
        self._identity = (st.st_dev, st.st_ino)

    def _reopen_if_moved(self) -> None:
        assert self.path is not None
        if self._fd is None:
            self._open()
            return
        try:
            st = os.stat(self.path)
            current: tuple[int, int] | None = (st.st_dev, st.st_ino)
        except FileNotFoundError:
            current = None
        if current != self._identity:
            self._close_quietly()
            self._open()

    def _close_quietly(self) -> None:
        if self._fd is not None:
            try:
                os.close(self._fd)
            except OSError:
                pass
            self._fd = None


def _unjoined(items: list[bytes | _Joined]) -> tuple[list[bytes], int]:
    """The text of queued ``items``, and how many lines it holds."""
    pieces: list[bytes] = []
    lines = 0
    for item in items:
        if isinstance(item, bytes):
            pieces.append(item)
            lines += 1
        else:
            text, count = item
            pieces.append(text)
            lines += count
    return pieces, lines


class _Written(NamedTuple):
    nbytes: int
    error: OSError | None


class _WriteCutShort(Exception):
    def __init__(self, error: OSError, lines_lost: int) -> None:
        super().__init__(error)
        self.error = error
        self.lines_lost = lines_lost


def _write_all(fd: int, data: bytes) -> _Written:
    """Write ``data``; how much got written before an error, if one came."""
    view = memoryview(data)
    nbytes = 0
    while nbytes < len(data):
        try:
            nbytes += os.write(fd, view[nbytes:])
        except OSError as error:
            return _Written(nbytes, error)
    return _Written(nbytes, None)


def stdout_stream() -> BinaryIO:
    return sys.stdout.buffer
