"""What one request costs with Jarvis's full middleware stack versus a bare aiohttp handler.

Both servers answer the same small JSON route (``GET /ping``), each in its own process pinned
to one core; ``wrk`` (Debian package), pinned to another core, loads them in turn — bare, ours,
bare, ours, six times — and the round whose ratio is the median is reported: neighbours on this
machine slow whole stretches of a run, which a round's two loads, seconds apart, share, where
the best load of each could come from different stretches. The full stack is what ``jarvis
serve`` runs: request ID, client address, route metrics, JSON errors, shutdown tracking,
rate limits enabled, and a JSON access-log line per request written to ``LOG_FILE`` by the
background writer. After the load, ours is asked for ``event_loop_lag_seconds``: the longest
the event loop stalled, to the histogram bucket, and how many of its samples (ten a second,
idle ones included) were over the 5 ms goal.

The row is requests per second. Run as a script, it also prints each server's requests per
second of its own CPU time: on a machine shared with other work the server core is not always
the server's, and that figure does not move with it. ``websocket_frames`` uses the same
server processes, pinning and load rounds.

    python bench/server_overhead.py [--seconds 3] [--rounds 6] [--connections 32] [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import math
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

from aiohttp import web

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.comparison import Row

ROW_NAME = "GET small JSON, full stack vs bare aiohttp"
PEER_NAME = "bare aiohttp"
GOAL = 0.85
SERVER_CORE = 0
LOAD_CORE = 1


async def ping(request: web.Request) -> web.Response:
    return web.json_response({"ok": True})


def jarvis_app(workdir: str, *, rate_limits: bool = True) -> web.Application:
    """The app ``jarvis serve`` runs (echo model, logs to a file only, rate limits on unless
    told otherwise) plus the ``/ping`` route, with its logging configured, and undone on
    cleanup."""
    from jarvis.app import create_app, freeze_startup_objects
    from jarvis.logs.setup import configure_logging, unconfigure_logging
    from jarvis.settings import Settings

    settings = dataclasses.replace(
        Settings(),
        llm_provider="echo",
        log_file=os.path.join(workdir, "jarvis.jsonl"),
        log_stdout=False,
        memory_path=os.path.join(workdir, "memory.sqlite3"),
        rate_limit_enabled=rate_limits,
        # Enabled and paid for by every chat, but never refusing one: refusals are not the
        # cost being measured.
        rate_limit_per_minute=1e12,
        rate_limit_burst=10**12,
        log_queue_size=1_000_000,
    )
    writer = configure_logging(settings)
    app = create_app(settings, log_writer=writer, extra_routes=[web.get("/ping", ping)])
    app.on_startup.append(freeze_startup_objects)

    async def stop_writer(app: web.Application) -> None:
        unconfigure_logging(writer)

    app.on_cleanup.append(stop_writer)
    return app


def serve(kind: str, port: int, workdir: str) -> None:
    if kind == "bare":
        app = web.Application()
        app.router.add_get("/ping", ping)
        web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None)
        return
    app = jarvis_app(workdir)
    # create_app wires the JSON access log itself.
    web.run_app(app, host="127.0.0.1", port=port, print=None, shutdown_timeout=1)


def pinned(core: int) -> list[str]:
    """The command prefix that keeps a process on ``core`` (nothing on a one-core machine)."""
    if shutil.which("taskset") is None or len(os.sched_getaffinity(0)) < 2:
        return []
    return ["taskset", "-c", str(core)]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclasses.dataclass(frozen=True)
class ServerProcess:
    url: str
    pid: int

    def cpu_seconds(self) -> float:
        """CPU time the server has used so far, all its threads, user and system."""
        with open(f"/proc/{self.pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextlib.contextmanager
def server_process(script: str, kind: str, ready_path: str = "/") -> Iterator[ServerProcess]:
    """Run ``script --serve kind`` pinned to the server core; yield it once ``ready_path``
    answers; terminate it on exit."""
    port = free_port()
    with tempfile.TemporaryDirectory() as workdir:
        server = subprocess.Popen(
            [*pinned(SERVER_CORE), sys.executable, script, "--serve", kind,
             "--port", str(port), "--workdir", workdir],
        )  # fmt: skip
        try:
            url = f"http://127.0.0.1:{port}"
            _wait_until_serving(url + ready_path, server)
            yield ServerProcess(url, server.pid)
        finally:
            server.terminate()
            try:
                server.wait(15)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()


def _wait_until_serving(url: str, server: subprocess.Popen[bytes]) -> None:
    for _ in range(300):
        if server.poll() is not None:
            raise RuntimeError(f"the server for {url} exited with {server.returncode}")
        try:
            urllib.request.urlopen(url, timeout=1).read()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"no answer from {url} in 30 s")


# The goal: the event loop never stalls longer than this under the bench's loads.
STALL_GOAL_SECONDS = 0.005


@dataclasses.dataclass(frozen=True)
class LoopLag:
    """What ``event_loop_lag_seconds`` says of a server: the longest stall, to the bucket
    (``inf`` beyond the last bound, NaN when unexposed), and how many of its samples were
    over ``STALL_GOAL_SECONDS`` (exact while that is a bucket bound, else None)."""

    bound: float
    samples: int = 0
    over_goal: int | None = None

    def text(self) -> str:
        if math.isnan(self.bound):
            return "event_loop_lag_seconds not exposed"
        longest = (
            "over the last bucket (2.5 s)"
            if math.isinf(self.bound)
            else f"<= {self.bound * 1000:g} ms"
        )
        over = (
            ""
            if self.over_goal is None
            else f", {self.over_goal} of {self.samples} samples over "
            f"{STALL_GOAL_SECONDS * 1000:g} ms"
        )
        return f"longest loop stall {longest}{over} (event_loop_lag_seconds)"


def loop_lag_from(metrics_text: str) -> LoopLag:
    """The loop lag an exposition shows; NaN bound when it has no ``event_loop_lag_seconds``."""
    buckets = {
        float(le): float(seen)
        for le, seen in re.findall(
            r'^event_loop_lag_seconds_bucket\{le="([^"]+)"\} (\S+)$', metrics_text, re.M
        )
    }
    count = re.search(r"^event_loop_lag_seconds_count (\S+)$", metrics_text, re.M)
    if not buckets or count is None:
        return LoopLag(math.nan)
    total = float(count.group(1))
    bound = min(le for le, seen in buckets.items() if seen >= total)
    within_goal = buckets.get(STALL_GOAL_SECONDS)
    over_goal = None if within_goal is None else int(total - within_goal)
    return LoopLag(bound, int(total), over_goal)


def loop_lag_of(url: str) -> LoopLag:
    """The loop lag the server at ``url`` has seen since it started, from its ``/metrics``."""
    with urllib.request.urlopen(url + "/metrics", timeout=5) as response:
        return loop_lag_from(response.read().decode())


@dataclasses.dataclass(frozen=True)
class Load:
    """What one load of a server got: ``count`` requests (or frames) in ``seconds``, for
    ``cpu_seconds`` of the server's own CPU."""

    count: int
    seconds: float
    cpu_seconds: float

    @property
    def per_second(self) -> float:
        return self.count / self.seconds

    @property
    def per_cpu_second(self) -> float:
        """Throughput per second of the server's CPU: what other work on a shared core does
        not change, where ``per_second`` drops when the server gets less of its core."""
        return self.count / self.cpu_seconds if self.cpu_seconds else math.inf


Drive = Callable[[str], tuple[int, float]]


def load_in_turns(
    bare: ServerProcess, ours: ServerProcess, rounds: int, drive: Drive
) -> tuple[list[Load], list[Load]]:
    """``drive`` (url → count, seconds) each server in turn, bare first, ``rounds`` times."""
    loads: tuple[list[Load], list[Load]] = ([], [])
    for _ in range(rounds):
        for server, kept in zip((bare, ours), loads, strict=True):
            cpu = server.cpu_seconds()
            count, seconds = drive(server.url)
            kept.append(Load(count, seconds, server.cpu_seconds() - cpu))
    return loads


def median_round(bare: list[Load], ours: list[Load]) -> tuple[Load, Load]:
    """The round (bare load, our load right after it) whose ratio is the median of all rounds'
    (the lower one of an even count)."""
    rounds = sorted(
        zip(bare, ours, strict=True), key=lambda pair: pair[1].per_second / pair[0].per_second
    )
    return rounds[(len(rounds) - 1) // 2]


@dataclasses.dataclass(frozen=True)
class Measured:
    row: Row
    bare: Load
    ours: Load
    loop_lag: LoopLag

    def report(self, unit: str) -> str:
        row = self.row
        per_cpu = self.ours.per_cpu_second / self.bare.per_cpu_second
        return "\n".join(
            [
                f"{row.peer_name:<24}: {row.peer:9.0f} {unit}/s  "
                f"({self.bare.per_cpu_second:7.0f} per CPU-second of the server)",
                f"{'Jarvis':<24}: {row.ours:9.0f} {unit}/s  "
                f"({self.ours.per_cpu_second:7.0f} per CPU-second of the server)",
                f"{'ours / peer':<24}: {row.ratio:9.2f}x  ({per_cpu:.2f}x per CPU-second; "
                f"goal {row.goal}x: {'met' if row.met else 'NOT met'})",
                f"{'added CPU per ' + unit:<24}: "
                f"{1e6 / self.ours.per_cpu_second - 1e6 / self.bare.per_cpu_second:9.1f} µs",
                self.loop_lag.text(),
            ]
        )


def wrk(connections: int, seconds: float) -> Drive:
    """Load ``/ping`` with ``wrk`` from the load core; every response must be a 2xx."""

    def drive(url: str) -> tuple[int, float]:
        result = subprocess.run(
            [*pinned(LOAD_CORE), "wrk", "-t1", f"-c{connections}",
             f"-d{max(1, round(seconds))}s", url + "/ping"],
            capture_output=True, text=True, check=True,
        )  # fmt: skip
        failed = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", result.stdout)
        if failed:
            raise RuntimeError(f"{url}: {failed.group(1)} requests failed\n{result.stdout}")
        done = re.search(r"(\d+) requests in ([\d.]+)(m?s)", result.stdout)
        assert done is not None, result.stdout
        elapsed = float(done.group(2)) / (1000 if done.group(3) == "ms" else 1)
        return int(done.group(1)), elapsed

    return drive


def measure(seconds: float, rounds: int, connections: int) -> Measured:
    """Alternate ``rounds`` loads of the bare server and ours; the median round."""
    if shutil.which("wrk") is None:
        raise RuntimeError("wrk is needed: apt-get install wrk")
    with (
        server_process(__file__, "bare", "/ping") as bare,
        server_process(__file__, "full", "/ping") as ours,
    ):
        bare_loads, our_loads = load_in_turns(bare, ours, rounds, wrk(connections, seconds))
        lag = loop_lag_of(ours.url)
    peer, mine = median_round(bare_loads, our_loads)
    row = Row(ROW_NAME, "req/s", mine.per_second, peer.per_second, PEER_NAME, GOAL)
    return Measured(row, peer, mine, lag)


def run(quick: bool) -> list[Row]:
    """The full stack's req/s beside bare aiohttp's; ``quick`` runs ~1 s each, once."""
    if quick:
        return [measure(1, 1, 32).row]
    return [measure(3, 6, 32).row]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--serve", choices=("bare", "full"))
    parser.add_argument("--port", type=int)
    parser.add_argument("--workdir")
    parser.add_argument("--seconds", type=float, default=3)
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--quick", action="store_true", help="1 s, one round")
    args = parser.parse_args()
    if args.serve:
        serve(args.serve, args.port, args.workdir)
        return
    if args.quick:
        args.seconds, args.rounds = 1, 1
    print(measure(args.seconds, args.rounds, args.connections).report("request"))


if __name__ == "__main__":
    asyncio.set_event_loop_policy(None)
    main()
