"""Where output goes: colour only for a terminal that wants it, a pager only for a terminal."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from collections.abc import Iterable, Mapping
from typing import TextIO

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


def emit(lines: Iterable[str], *, page: bool) -> None:
    """Writes ``lines`` to stdout, through ``$PAGER`` (default ``less -R``) when ``page``.

    A reader who quits the pager or closes the pipe early (``| head``) is not an error.
    """
    if page and _emit_through_pager(lines):
        return
    try:
        for line in lines:
            sys.stdout.write(line + "\n")
        sys.stdout.flush()
    except BrokenPipeError:
        # Python would complain again when flushing at exit; send the rest nowhere.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())


def _emit_through_pager(lines: Iterable[str]) -> bool:
    try:
        command = shlex.split(os.environ.get("PAGER") or _DEFAULT_PAGER)
    except ValueError:
        return False
    if not command:
        return False
    environ = dict(os.environ)
    environ.setdefault("LESS", _DEFAULT_LESS)
    try:
        pager = subprocess.Popen(command, stdin=subprocess.PIPE, env=environ, encoding="utf-8")
    except OSError:
        return False
    assert pager.stdin is not None
    try:
        for line in lines:
            pager.stdin.write(line + "\n")
        pager.stdin.close()
    except BrokenPipeError:
        pass
    pager.wait()
    return True
