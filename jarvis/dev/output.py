"""The lines of every process ``jarvis dev`` runs, on one stream: each prefixed with its
process's name (``es      | ...``, padded, coloured on a terminal) and, when asked, JSON log
lines rendered for people (``jarvis.logs.console``); other lines as they are."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from typing import TextIO

from jarvis.logs.console import Painter, render_text_line

DEV = "dev"  # the prefix of jarvis dev's own lines
# A line longer than this (a runaway one without a newline) is shown in pieces.
MAX_LINE_BYTES = 1024 * 1024
_READ_BYTES = 64 * 1024
_PREFIX_STYLES = {
    "es": "\x1b[33m",
    "api": "\x1b[36m",
    "shipper": "\x1b[35m",
    "prom": "\x1b[34m",
    DEV: "\x1b[1m",
}


class ProcessOutput:
    """Writes prefixed lines to ``stream``. Writes are synchronous on purpose: a terminal
    that cannot keep up slows the relay of the processes' lines rather than losing them. A
    closed stream (``jarvis dev | head``, a terminal window closed) is not an error: the rest
    goes nowhere, and the processes are still stopped in order."""

    def __init__(self, stream: TextIO, names: Iterable[str], *, render: bool, colour: bool) -> None:
        self._stream = stream
        self._render = render
        self._paint = Painter(colour)
        self._width = max(len(name) for name in (*names, DEV))
        self._closed = False

    def line(self, name: str, raw: bytes | str) -> None:
        """One line of process ``name`` (its line ending, if any, is dropped)."""
        if self._render:
            text = render_text_line(raw, colour=self._paint.colour)
        else:
            text = raw.decode(errors="replace") if isinstance(raw, bytes) else raw
            text = text.rstrip("\r\n")
        prefix = self._paint(name.ljust(self._width), _PREFIX_STYLES.get(name, "")) + " | "
        # A rendered error brings its traceback on the following lines: each gets the prefix.
        self._write("".join(prefix + part + "\n" for part in text.split("\n")))

    def note(self, text: str) -> None:
        """A line of jarvis dev's own."""
        self.line(DEV, text)

    def block(self, text: str) -> None:
        """Text without prefix (the summary)."""
        self._write(text if text.endswith("\n") else text + "\n")

    def _write(self, text: str) -> None:
        if self._closed:
            return
        try:
            self._stream.write(text)
            self._stream.flush()
        except (OSError, ValueError):
            # A pipe closed by its reader, a terminal hung up (EIO): keep supervising.
            self._closed = True


async def relay_lines(reader: asyncio.StreamReader, emit: Callable[[bytes], None]) -> None:
    """Pass each line of ``reader`` to ``emit`` until its end, the last one even without a
    newline; a line longer than ``MAX_LINE_BYTES`` is passed in pieces of that size, and a
    runaway one is never held whole."""
    pending = b""
    while chunk := await reader.read(_READ_BYTES):
        pending += chunk
        *lines, pending = pending.split(b"\n")
        for line in lines:
            _emit_in_pieces(line, emit)
        if len(pending) >= MAX_LINE_BYTES:
            whole = len(pending) - len(pending) % MAX_LINE_BYTES
            _emit_in_pieces(pending[:whole], emit)
            pending = pending[whole:]
    if pending:
        _emit_in_pieces(pending, emit)


def _emit_in_pieces(line: bytes, emit: Callable[[bytes], None]) -> None:
    for start in range(0, max(len(line), 1), MAX_LINE_BYTES):
        emit(line[start : start + MAX_LINE_BYTES])
