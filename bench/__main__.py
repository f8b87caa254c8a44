"""``python -m bench``: run every comparison module and print one table.

Each module exposes ``run(quick: bool) -> list[Row]`` (``bench/comparison.py``): ours beside
a peer, measured in the same run. A module that is missing, fails to import or crashes is
reported as a failed row and the others still run.

    python -m bench                  # every comparison, full length
    python -m bench --quick          # every comparison, short: proves each row completes (CI)
    python -m bench --only NAME      # one module, e.g. shipper_throughput

Exit status: 0 when every row produced figures, goals met or not; 1 when a comparison
crashed (or produced no figure); 2 for wrong arguments.
"""

from __future__ import annotations

import argparse
import importlib
import math
import sys
import time
import traceback
from collections.abc import Sequence
from dataclasses import dataclass

from bench.comparison import Row

MODULES = (
    "server_overhead",
    "websocket_frames",
    "chat_memory",
    "instructions",
    "shipper_throughput",
    "query_trace",
    "cli_startup",
)
HEADINGS = ("row", "ours", "peer", "ratio", "goal", "met")


@dataclass(frozen=True)
class Failure:
    """A module that gave no rows: what went wrong, in one line."""

    module: str
    error: str


def run_module(name: str, quick: bool) -> list[Row] | Failure:
    """The rows of ``bench.<name>``, or why there are none."""
    try:
        module = importlib.import_module(f"bench.{name}")
        rows = list(module.run(quick))
    except Exception as error:  # any crash is one failed row, and the others still run
        traceback.print_exc(file=sys.stderr)
        return Failure(name, f"{type(error).__name__}: {error}".splitlines()[0][:200])
    if not rows:
        return Failure(name, "no rows")
    bad = [row.name for row in rows if not _has_figures(row)]
    if bad:
        return Failure(name, f"no figures for {', '.join(bad)}")
    return rows


def _has_figures(row: Row) -> bool:
    return all(math.isfinite(value) for value in (row.ours, row.peer)) and row.peer > 0


def table(results: Sequence[tuple[str, list[Row] | Failure]]) -> list[str]:
    """The table, one line per row (a failed module is one line saying why)."""
    lines = [HEADINGS]
    for _, result in results:
        if isinstance(result, Failure):
            lines.append((f"{result.module}: FAILED ({result.error})", "-", "-", "-", "-", "-"))
            continue
        for row in result:
            sense = ">=" if row.higher_is_better else "<="
            lines.append(
                (
                    row.name,
                    f"{_figure(row.ours)} {row.unit}",
                    f"{_figure(row.peer)} {row.unit} ({row.peer_name})",
                    f"{row.ratio:.2f}",
                    f"{sense} {row.goal:g}",
                    "yes" if row.met else "no",
                )
            )
    widths = [max(len(line[column]) for line in lines) for column in range(len(HEADINGS))]
    rendered = [
        "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True))
        for line in lines
    ]
    rendered.insert(1, "  ".join("-" * width for width in widths))
    return [line.rstrip() for line in rendered]


def _figure(value: float) -> str:
    if abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:.3g}"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help="short runs: prove every row completes"
    )
    parser.add_argument("--only", metavar="NAME", choices=MODULES, help="run one module")
    args = parser.parse_args(argv)
    names = [args.only] if args.only else list(MODULES)
    results: list[tuple[str, list[Row] | Failure]] = []
    for name in names:
        print(f"bench: {name}...", file=sys.stderr, flush=True)
        started = time.perf_counter()
        results.append((name, run_module(name, args.quick)))
        print(f"bench: {name} done in {time.perf_counter() - started:.0f} s", file=sys.stderr)
    print("\n".join(table(results)))
    return 1 if any(isinstance(result, Failure) for _, result in results) else 0


if __name__ == "__main__":
    sys.exit(main())
