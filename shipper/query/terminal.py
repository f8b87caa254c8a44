"""Where output goes: colour only for a terminal that wants it, a pager only for a terminal."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from collections.abc import Iterable, Mapping
from typing import IO, TextIO

_DEFAULT_PAGER = "less -R"
# Quit at once when the output fits one screen, keep colours, leave the text on screen.
_DEFAULT_LESS = "FRX"


def wants_colour(stream: TextIO, *, disabled: bool, environ: Mapping[str, str]) -> bool:
    """Colour when ``stream`` is a terminal, unless ``--no-color``, ``NO_COLOR`` or a dumb TERM."""
    if disabled or environ.get("NO_COLOR") or environ.get("TERM") == "dumb":
        return False
    return stream.isatty()


def wants_pager(stream: TextIO, *, disabled: bool) -> bool:
    """Page only what a person reads on a terminal; pipes and files get the plain stream."""
    return not disabled and stream.isatty()


class Output:
    """Where lines go: stdout, or through ``$PAGER`` (default ``less -R``) when ``page``, the
    pager started with the first lines written. Each ``write`` reaches the reader at once, so
    that a long result is read while the rest is still being fetched.

    A reader who quits the pager or closes the pipe early (``| head``) is not an error:
    ``gone`` turns true and whatever follows is dropped.
    """

    def __init__(self, *, page: bool) -> None:
        self._page = page
        self._pager: subprocess.Popen[str] | None = None
        self._stream: IO[str] | None = None
        self.gone = False

    def write(self, lines: Iterable[str]) -> None:
        if self.gone:
            return
        stream = self._stream or self._open()
        text = "".join(line + "\n" for line in lines)
        try:
            stream.write(text)
            stream.flush()
        except BrokenPipeError:
            self._reader_gone()

    def close(self) -> None:
        """Let the pager (if any) have the last word: returns once the reader quits it."""
        if self._pager is None:
            return
        try:
            if self._stream is not None and not self.gone:
                self._stream.close()
        except BrokenPipeError:
            pass
        self._pager.wait()
        self._pager = None

    def _open(self) -> IO[str]:
        self._pager = _start_pager() if self._page else None
        if self._pager is not None and self._pager.stdin is not None:
            self._stream = self._pager.stdin
        else:
            self._stream = sys.stdout
        return self._stream

    def _reader_gone(self) -> None:
        self.gone = True
        if self._pager is None:
            # Python would complain again when flushing at exit; send the rest nowhere.
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())


def emit(lines: Iterable[str], *, page: bool) -> None:
    """Writes ``lines`` to stdout, through ``$PAGER`` (default ``less -R``) when ``page``."""
    output = Output(page=page)
    try:
        output.write(lines)
    finally:
        output.close()


def _start_pager() -> subprocess.Popen[str] | None:
    try:
        command = shlex.split(os.environ.get("PAGER") or _DEFAULT_PAGER)
    except ValueError:
        return None
    if not command:
        return None
    environ = dict(os.environ)
    environ.setdefault("LESS", _DEFAULT_LESS)
    try:
        return subprocess.Popen(command, stdin=subprocess.PIPE, env=environ, encoding="utf-8")
    except OSError:
        return None
