"""How long each command takes to answer ``--help``: what a user waits for before anything
else, and a measure of what the command imports before it knows what it will do.

One row per command (``jarvis-logs``, ``jarvis-shipper``, ``jarvis``) against a 0.3 s budget,
lower is better, goal 1.0. Each runs as ``python -m <module> --help`` (the console scripts
call the same function; a pyenv shim in front of them would add its own time); the commands
take turns, and each figure is the median of its runs.

    python -m bench --only cli_startup [--quick]
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from pathlib import Path

from bench.comparison import Row

ROOT = Path(__file__).resolve().parents[1]
BUDGET_SECONDS = 0.3
COMMANDS = {"jarvis-logs": "shipper.query", "jarvis-shipper": "shipper", "jarvis": "jarvis"}
RUNS, QUICK_RUNS = 15, 3


def help_seconds(module: str) -> float:
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", module, "--help"],
        check=True,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return time.perf_counter() - started


def run(quick: bool) -> list[Row]:
    runs = QUICK_RUNS if quick else RUNS
    times: dict[str, list[float]] = {command: [] for command in COMMANDS}
    for _ in range(runs):
        for command, module in COMMANDS.items():
            times[command].append(help_seconds(module))
    return [
        Row(
            f"{command} --help",
            "s",
            statistics.median(times[command]),
            BUDGET_SECONDS,
            "budget",
            1.0,
            higher_is_better=False,
        )
        for command in COMMANDS
    ]


if __name__ == "__main__":
    sys.exit("run it as: python -m bench --only cli_startup [--quick]")
