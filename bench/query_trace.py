"""``jarvis-logs trace`` of a very long request (100,000 events: a WebSocket session kept open
for days) against its budget, from Elasticsearch and from the log files.

Rows (``run``):
- seconds for the whole trace from Elasticsearch, printed to a pipe, against a 5 s budget
  (lower is better, goal 1.0);
- its peak RSS beside the same command tracing a request of 1,000 events: the trace is
  streamed page by page, so memory must not grow with its length (goal 1.5: what grows is a
  page or two in flight);
- the same two from the files (``--source files``): the live file and a gzip backup.

Each trace runs as a user's shell would run it (``python -m shipper.query``, stdout a pipe
read to the end); the short and the long alternate, and each figure is the median of its runs.

    python -m bench --only query_trace [--quick]
"""

from __future__ import annotations

import asyncio
import gzip
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import aiohttp
import orjson

from bench.comparison import Row
from bench.elasticsearch_node import delete_indices, elasticsearch_url, request
from bench.process_memory import peak_rss_mib
from shipper.elastic import INDEX_PREFIX, index_for
from shipper.sink.index_template import TEMPLATE_NAME, template_body

ROOT = Path(__file__).resolve().parents[1]
BUDGET_SECONDS = 5.0
LONG, SHORT = 100_000, 1_000
QUICK_LONG = 10_000
ROUNDS, QUICK_ROUNDS = 3, 1
# Lines of other requests between two of the traced one, as in a busy log.
NOISE_EVERY = 4


def session_lines(request_id: str, count: int, start: float) -> list[bytes]:
    """``count`` lines of one WebSocket session, 5 ms apart, among lines of other requests."""
    lines = []
    for number in range(count):
        moment = start + number * 0.005
        traced = {
            "timestamp": moment,
            "level": "ERROR" if number % 1000 == 999 else "INFO",
            "logger": "jarvis.ws",
            "message": "websocket message",
            "request_id": request_id,
            "module": "ws_handler",
            "function": "handle",
            "line": 120,
            "action": "ws_message",
            "user_id": "enzo",
            "message_length": 42 + number % 50,
            "duration_ms": 3.5 + number % 7,
        }
        lines.append(orjson.dumps(traced) + b"\n")
        if number % NOISE_EVERY == 0:
            other = {**traced, "request_id": str(uuid.uuid4()), "timestamp": moment + 0.001}
            lines.append(orjson.dumps(other) + b"\n")
    return lines


def document(line: bytes, offset: int) -> bytes:
    """The document the shipper indexes for ``line`` (fields, @timestamp, tags, origin)."""
    fields = orjson.loads(line)
    moment = fields["timestamp"]
    fields["@timestamp"] = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(moment)) + (
        f".{int(moment % 1 * 1000):03d}Z"
    )
    fields["tags"] = ["traced"]
    fields["log"] = {"file": {"path": "/app/logs/jarvis.jsonl"}, "offset": offset}
    fields["host"] = {"name": "bench"}
    return orjson.dumps(fields)


async def index_lines(url: str, prefix: str, lines: list[bytes]) -> None:
    """Bulk-index the documents of ``lines`` into daily indices named ``prefix``YYYY.MM.dd."""
    offset, actions = 0, []
    for line in lines:
        day = index_for(orjson.loads(line)["timestamp"]).removeprefix(INDEX_PREFIX)
        actions.append(b'{"create":{"_index":"%s%s"}}\n' % (prefix.encode(), day.encode()))
        actions.append(document(line, offset) + b"\n")
        offset += len(line)
    headers = {"Content-Type": "application/x-ndjson"}
    async with aiohttp.ClientSession() as session:
        for start in range(0, len(actions), 10_000):
            async with session.post(
                f"{url}/_bulk?filter_path=errors", data=b"".join(actions[start : start + 10_000]),
                headers=headers,
            ) as response:  # fmt: skip
                if (await response.json()).get("errors"):
                    raise RuntimeError("indexing the bench trace failed")
        async with session.post(f"{url}/{prefix}*/_refresh"):
            pass


def trace(arguments: list[str]) -> tuple[float, float]:
    """Seconds and peak RSS (MiB) of ``jarvis-logs trace ARGUMENTS``, stdout read to the end."""
    environ = {key: value for key, value in os.environ.items() if key not in ("PAGER", "NO_COLOR")}
    command = [sys.executable, "-m", "shipper.query", "trace", *arguments, "--no-pager"]
    started = time.perf_counter()
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=environ, cwd=ROOT
    )
    assert process.stdout is not None and process.stderr is not None
    # Read while it runs: a finished process has no /proc entry left, and the rusage of a
    # child counts the memory of the fork (this process) before the exec.
    peak = [0.0]
    watcher = threading.Thread(target=_watch_peak_rss, args=(process, peak), daemon=True)
    watcher.start()
    printed = sum(len(chunk) for chunk in iter(lambda: process.stdout.read(1 << 16), b""))  # type: ignore[union-attr]
    errors = process.stderr.read()
    process.wait()
    seconds = time.perf_counter() - started
    watcher.join()
    if process.returncode != 0 or not printed:
        raise RuntimeError(f"jarvis-logs trace failed ({process.returncode}): {errors[-500:]!r}")
    return seconds, peak[0]


def _watch_peak_rss(process: subprocess.Popen[bytes], peak: list[float]) -> None:
    while process.poll() is None:
        try:
            peak[0] = max(peak[0], peak_rss_mib(process.pid))
        except (OSError, RuntimeError):
            return
        time.sleep(0.02)


def run(quick: bool) -> list[Row]:
    long = QUICK_LONG if quick else LONG
    rounds = QUICK_ROUNDS if quick else ROUNDS
    url = elasticsearch_url()
    prefix = f"{INDEX_PREFIX}bench-trace-{uuid.uuid4().hex[:8]}-"
    start = time.time() - 3 * 86400
    ids = {long: f"bench-long-{uuid.uuid4().hex[:8]}", SHORT: f"bench-short-{uuid.uuid4().hex[:8]}"}
    lines = {count: session_lines(ids[count], count, start + count) for count in (long, SHORT)}
    request("PUT", f"{url}/_index_template/{TEMPLATE_NAME}", template_body())
    with tempfile.TemporaryDirectory(prefix="bench-trace-") as temp:
        files = Path(temp)
        everything = sorted(
            lines[long] + lines[SHORT], key=lambda line: orjson.loads(line)["timestamp"]
        )
        half = len(everything) // 2
        with gzip.open(files / "jarvis.jsonl.1.gz", "wb") as backup:
            backup.write(b"".join(everything[:half]))
        (files / "jarvis.jsonl").write_bytes(b"".join(everything[half:]))
        try:
            asyncio.run(index_lines(url, prefix, everything))
            sources = {
                "es": ["--index", prefix + "*", "--elasticsearch-url", url],
                "files": ["--source", "files", "--path", str(files / "jarvis.jsonl*")],
            }
            figures: dict[tuple[str, int], list[tuple[float, float]]] = {
                (source, count): [] for source in sources for count in (long, SHORT)
            }
            for number in range(rounds):
                order = (long, SHORT) if number % 2 == 0 else (SHORT, long)
                for source, arguments in sources.items():
                    for count in order:
                        figures[source, count].append(trace([ids[count], *arguments]))
                        seconds, rss = figures[source, count][-1]
                        _note(f"{source} {count:,} events: {seconds:.2f} s, {rss:.0f} MiB")
        finally:
            delete_indices(url, prefix + "*")
    rows = []
    for source, where in (("es", "Elasticsearch"), ("files", "the files")):
        seconds = statistics.median(value[0] for value in figures[source, long])
        rss = statistics.median(value[1] for value in figures[source, long])
        short_rss = statistics.median(value[1] for value in figures[source, SHORT])
        rows.append(
            Row(
                f"jarvis-logs trace of {long:,} events from {where}",
                "s",
                seconds,
                BUDGET_SECONDS,
                "budget",
                1.0,
                higher_is_better=False,
            )
        )
        rows.append(
            Row(
                f"jarvis-logs trace peak RSS from {where}, {long:,} vs {SHORT:,} events",
                "MiB",
                rss,
                short_rss,
                f"itself at {SHORT:,} events",
                1.5,
                higher_is_better=False,
            )
        )
    return rows


def _note(text: str) -> None:
    print(f"  query_trace: {text}", file=sys.stderr, flush=True)


if __name__ == "__main__":
    sys.exit("run it as: python -m bench --only query_trace [--quick]")
