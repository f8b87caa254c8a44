"""A small real filesystem that can be filled up: a tmpfs mounted for one test (tests run as
root here), so ENOSPC comes from the kernel, not from a mock."""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest


@dataclass
class SmallDisk:
    path: Path

    def fill(self, leave_bytes: int = 0) -> None:
        """Take all the free space but ``leave_bytes`` (roughly: a block or so either way)."""
        filler = self.path / ".filler"
        # Unbuffered: a write refused because another writer took the space first leaves
        # nothing behind for close() to fail on.
        with open(filler, "ab", buffering=0) as stream:
            while True:
                free = self.free_bytes() - leave_bytes
                if free <= 0:
                    break
                try:
                    stream.write(b"\0" * min(free, 1 << 20))
                except OSError:
                    break

    def free_up(self) -> None:
        """Give the space back."""
        with contextlib.suppress(FileNotFoundError):
            (self.path / ".filler").unlink()

    def free_bytes(self) -> int:
        stats = os.statvfs(self.path)
        return stats.f_bavail * stats.f_frsize


@contextlib.contextmanager
def mounted_small_disk(path: Path, size: str = "4m") -> Iterator[SmallDisk]:
    path.mkdir(parents=True, exist_ok=True)
    try:
        subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size},mode=0777", "tmpfs", str(path)],
            check=True,
            capture_output=True,
        )
    except (OSError, subprocess.CalledProcessError) as error:
        pytest.skip(f"cannot mount a tmpfs here (tests need root): {error}")
    try:
        yield SmallDisk(path)
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False, capture_output=True)


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[SmallDisk]:
    """A 4 MiB tmpfs at ``<tmp>/disk``, unmounted after the test."""
    with mounted_small_disk(tmp_path / "disk") as disk:
        yield disk
