"""``jarvis-logs --source files`` while the shipper rotates and compresses the files it reads:
a rotation renames every file (``jarvis.jsonl`` → ``.1``, ``.1`` → ``.2``, …) and a compression
replaces ``.N`` by ``.N.gz``, yet every line is on disk all along, so a search sees each once."""

from __future__ import annotations

import asyncio
import gzip
import os
import resource
import sys
import threading
import time
from pathlib import Path

import pytest
from query_log_lines import log_line, write_jsonl
from support.jarvis_logs_cli import cli_environment

from shipper.query.file_source import FileEventSource
from shipper.query.filters import EventFilter
from shipper.rotator import _compress, _rotate
from shipper.source.backups import backups_of

pytestmark = pytest.mark.timeout(120)

TRACED = "0b9e4c1a-7f3d-4e2b-9a61-5c8d2f0e7b43"


class RotatingShipper:
    """A thread doing what the shipper's rotator does, far more often than it would: rotate
    the live file, start a new one, compress the plain backups, and delete the backups that
    hold no line, every few milliseconds."""

    def __init__(self, live: Path) -> None:
        self.live = live
        self.rotations = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> RotatingShipper:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.is_set():
            assert _rotate(str(self.live))
            self.live.touch()
            for backup in backups_of(str(self.live)):
                if not backup.compressed:
                    _compress(backup)
                elif not gzip.decompress(Path(backup.path).read_bytes()):
                    os.remove(backup.path)
            self.rotations += 1
            self._stop.wait(0.003)


def lines_in_files(directory: Path, files: int, lines_each: int) -> list[dict]:
    """``files`` files of the traced request's lines, each line its own ``n``."""
    start = time.time() - 3600
    written = []
    for file in range(files):
        lines = [
            log_line(start + len(written) + n, "jarvis.chat", "step", request_id=TRACED, n=n)
            for n in range(len(written), len(written) + lines_each)
        ]
        name = "jarvis.jsonl" if file == files - 1 else f"jarvis.jsonl.{files - 1 - file}"
        write_jsonl(directory / name, lines)
        written += lines
    return written


async def test_a_trace_during_rotations_sees_every_line_once(tmp_path: Path) -> None:
    written = lines_in_files(tmp_path, files=4, lines_each=50)
    source = FileEventSource(str(tmp_path / "jarvis.jsonl*"))
    traced = EventFilter(request_id=TRACED)
    with RotatingShipper(tmp_path / "jarvis.jsonl") as shipper:
        while shipper.rotations < 100:
            found = await source.find(traced)
            assert [line["n"] for line in found] == [line["n"] for line in written]
            streamed = [line async for page in source.stream(traced) for line in page]
            assert [line["n"] for line in streamed] == [line["n"] for line in written]


async def test_more_files_than_the_open_file_limit_is_one_clear_line(tmp_path: Path) -> None:
    """Every file is opened before any is read: past ``ulimit -n`` that is an error naming the
    limit, not a traceback."""
    lines_in_files(tmp_path, files=60, lines_each=1)
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "shipper.query", "trace", TRACED, "--source", "files",
        "--path", str(tmp_path / "jarvis.jsonl*"),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        env=cli_environment(),
        preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (40, 40)),
    )  # fmt: skip
    stdout, stderr = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 2
    assert stderr.decode().strip().splitlines() == [
        "jarvis-logs: too many files to read at once: the limit of open files (ulimit -n) is 40; "
        "raise it, or narrow --path"
    ]
    assert stdout == b""
