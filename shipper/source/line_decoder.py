"""Cuts a byte stream into lines, remembering where each line starts and ends.

A line is only produced once its newline has been read: a half-written last line
waits in the decoder, so it is never shipped in two pieces. Memory is bounded by
``max_line_bytes``: the rest of an overlong line is dropped as it is read, and the line
is marked truncated.
"""

from __future__ import annotations

from itertools import accumulate, repeat
from typing import NamedTuple


class Line(NamedTuple):
    """One line: its bytes (without the newline) and where it starts and ends in the file."""

    # A named tuple rather than a frozen dataclass: one is made per line, and a tuple is
    # made several times faster.
    start: int
    end: int
    data: bytes
    truncated: bool


# Builds a Line from a (start, end, data, truncated) tuple in C, as map() calls it.
_new_line = tuple.__new__


class LineDecoder:
    def __init__(self, offset: int, max_line_bytes: int) -> None:
        self.position = offset
        self._max = max_line_bytes
        self._line_start = offset
        self._buffer = bytearray()
        self._cut = False

    @property
    def partial_bytes(self) -> int:
        """Bytes read after the last newline (a line still being written)."""
        return self.position - self._line_start

    def feed(self, chunk: bytes) -> list[Line]:
        """Take the next bytes of the file; return the lines they complete, in order."""
        if self._buffer or self._cut or b"\r" in chunk:
            return self._feed_each(chunk)
        last = chunk.rfind(b"\n")
        if last < 0:
            return self._feed_each(chunk)
        # The common chunk: whole lines after whole lines, none too long, no CR to strip. Cut
        # and made into lines by C loops (split, accumulate, map), not one Python step a line:
        # this was the most of the tailer's time.
        pieces = chunk[:last].split(b"\n")
        lengths = [len(piece) + 1 for piece in pieces]
        if max(lengths) > self._max + 1:
            return self._feed_each(chunk)
        bounds = list(accumulate(lengths, initial=self.position))
        lines = list(map(_new_line, repeat(Line), zip(bounds, bounds[1:], pieces, repeat(False))))
        self._line_start = bounds[-1]
        self.position += len(chunk)
        if last + 1 < len(chunk):
            self._keep(chunk[last + 1 :])
        return lines

    def _feed_each(self, chunk: bytes) -> list[Line]:
        """``feed``, one line at a time: for a line begun in an earlier chunk, an overlong
        line, a CR before a newline."""
        lines: list[Line] = []
        base = self.position
        pos = 0
        size = len(chunk)
        while pos < size:
            newline = chunk.find(b"\n", pos)
            if newline < 0:
                self._keep(chunk[pos:])
                break
            if not self._buffer and not self._cut and newline - pos <= self._max:
                data = chunk[pos:newline]
            else:
                self._keep(chunk[pos:newline])
                data = bytes(self._buffer)
            end = base + newline + 1
            lines.append(self._line(data, end))
            pos = newline + 1
        self.position = base + size
        return lines

    def flush(self) -> Line | None:
        """The unterminated last line of a file that will not grow any more, if any."""
        if self.partial_bytes == 0:
            return None
        return self._line(bytes(self._buffer), self.position)

    def _keep(self, piece: bytes) -> None:
        room = self._max - len(self._buffer)
        if len(piece) > room:
            self._buffer += piece[: max(room, 0)]
            self._cut = True
        else:
            self._buffer += piece

    def _line(self, data: bytes, end: int) -> Line:
        if data.endswith(b"\r"):
            data = data[:-1]
        line = Line(self._line_start, end, data, self._cut)
        self._line_start = end
        self._buffer.clear()
        self._cut = False
        return line
