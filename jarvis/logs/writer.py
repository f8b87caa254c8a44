"""The background writer: takes rendered JSON lines off a queue and appends them to stdout
and to the log file, in a thread of its own so that no event loop ever waits on a disk."""

from __future__ import annotations

import os
import sys
import threading
import time
from collections import deque
from typing import BinaryIO

_MAX_BATCH_LINES = 4096
# Lines wait this long for company before a write: one write and one thread wake-up per
# burst instead of per line, which is what keeps logging off the request's critical path.
_LINGER_SECONDS = 0.002


class LogWriter:
    """Writes whole lines only; reopens the log file when it is renamed or deleted (rotation by
    the shipper), so every line lands either wholly in the old file or wholly in the new one."""

    def __init__(self, path: str | None, stdout: BinaryIO | None, queue_size: int = 10_000):
        self.path = path or None
        self._stdout = stdout
        self._capacity = queue_size
        # deque.append and popleft are atomic: the hot path takes no lock unless it has to
        # wake the writer.
        self._pending: deque[bytes] = deque()
        self._wakeup = threading.Event()
        self._stopping = False
        self._fd: int | None = None
        self._identity: tuple[int, int] | None = None
        self._thread = threading.Thread(target=self._run, name="jarvis-log-writer", daemon=True)
        self.lines_dropped = 0
        self.last_error: str | None = None

    def start(self) -> LogWriter:
        if self.path:
            self._open()
        self._thread.start()
        return self

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def submit(self, line: bytes) -> None:
        """Queue one rendered line. Never blocks: when the queue is full the line is counted
        as dropped (reported by the log-sink health check) rather than stalling the server."""
        if not self._thread.is_alive():
            self._write_batch([line])
            return
        if len(self._pending) >= self._capacity:
            self.lines_dropped += 1
            return
        self._pending.append(line)
        if not self._wakeup.is_set():
            self._wakeup.set()

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
        while True:
            self._wakeup.wait()
            self._wakeup.clear()
            if not self._stopping:
                time.sleep(_LINGER_SECONDS)
            while self._pending:
                batch: list[bytes] = []
                while self._pending and len(batch) < _MAX_BATCH_LINES:
                    batch.append(self._pending.popleft())
                self._write_batch(batch)
            if self._stopping:
                return

    def _write_batch(self, batch: list[bytes]) -> None:
        data = b"".join(batch)
        if self._stdout is not None:
            try:
                self._stdout.write(data)
                self._stdout.flush()
            except (OSError, ValueError) as exc:
                self.last_error = f"stdout: {exc}"
        if self.path:
            try:
                self._reopen_if_moved()
                assert self._fd is not None
                _write_all(self._fd, data)
                self.last_error = None
            except OSError as exc:
                self.last_error = f"{self.path}: {exc.strerror or exc}"
                self._close_quietly()

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


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def stdout_stream() -> BinaryIO:
    return sys.stdout.buffer
