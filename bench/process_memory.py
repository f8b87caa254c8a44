"""Memory of a process, as Linux accounts it."""

from __future__ import annotations

from pathlib import Path


def peak_rss_mib(pid: int) -> float:
    """Peak resident memory of process ``pid`` so far (``VmHWM``), in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmHWM for process {pid}")
