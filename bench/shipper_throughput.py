"""jarvis-shipper's throughput and end-to-end delay, on this machine, against a real node.

Side by side on the same backlog of seed-shaped lines:
- raw: the documents bulk-indexed straight from memory by a bare client (the ceiling:
  what Elasticsearch itself takes here), with the same batch size and concurrency;
- shipper: ``python -m shipper`` reading the file, transforming, bulk-indexing, keeping
  its registry; events/s from its start to its last acknowledgement.
Then the delay from a line written to the file to it being searchable (no forced refresh),
with the shipper caught up and idle.

    python bench/shipper_throughput.py [--lines 100000] [--samples 20]

Uses ``ELASTICSEARCH_URL`` if set, else starts ``docker/es-dev`` in a temp directory.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import orjson
from elasticsearch import AsyncElasticsearch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

BATCH = 2000
SENDERS = 2


def seed_line(number: int, marker: str) -> bytes:
    record = {
        "timestamp": time.time(),
        "level": "INFO",
        "logger": "jarvis.access",
        "message": "POST /chat 200",
        "request_id": str(uuid.uuid4()),
        "module": "access_log",
        "function": "log",
        "line": 88,
        "action": "http_access",
        "method": "POST",
        "path": "/chat",
        "route": "/chat",
        "status": 200,
        "duration_ms": 12.5 + number % 100,
        "bytes": 512,
        "client": "127.0.0.1",
        "user_agent": "bench",
        "marker": marker,
    }
    return orjson.dumps(record) + b"\n"


@contextlib.contextmanager
def elasticsearch(workdir: Path) -> Iterator[str]:
    if os.environ.get("ELASTICSEARCH_URL"):
        yield os.environ["ELASTICSEARCH_URL"]
        return
    from support.elasticsearch_node import ElasticsearchNode

    with ElasticsearchNode(workdir / "es") as node:
        yield node.url


async def raw_bulk(url: str, lines: list[bytes]) -> float:
    """Events/s of bare ``_bulk`` requests of the same documents, ``SENDERS`` at a time."""
    client = AsyncElasticsearch(url, request_timeout=120)
    bodies = []
    for start in range(0, len(lines), BATCH):
        action = b'{"create":{"_index":"bench-raw"}}\n'
        bodies.append(b"".join(action + line for line in lines[start : start + BATCH]))
    queue: asyncio.Queue[bytes] = asyncio.Queue()
    for body in bodies:
        queue.put_nowait(body)

    async def sender() -> None:
        while not queue.empty():
            await client.bulk(operations=queue.get_nowait(), filter_path="errors")  # type: ignore[arg-type]

    started = time.perf_counter()
    await asyncio.gather(*(sender() for _ in range(SENDERS)))
    elapsed = time.perf_counter() - started
    await client.indices.delete(index="bench-raw")
    await client.close()
    return len(lines) / elapsed


async def metrics(port: int, session: aiohttp.ClientSession) -> dict[str, float]:
    async with session.get(f"http://127.0.0.1:{port}/metrics") as response:
        text = await response.text()
    return {
        name: float(value)
        for name, value in (line.rsplit(" ", 1) for line in text.splitlines() if line[:1] != "#")
    }


def peak_memory_mib(pid: int) -> float:
    """Peak resident memory of a process so far (Linux ``VmHWM``)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def read_lines(path: Path) -> list[bytes]:
    return path.read_bytes().splitlines()


async def status_port(stderr: Path) -> int:
    for _ in range(600):
        for raw in await asyncio.to_thread(read_lines, stderr):
            entry = orjson.loads(raw)
            if "status_port" in entry:
                return int(entry["status_port"])
        await asyncio.sleep(0.05)
    raise RuntimeError("the shipper did not start")


async def search_delay(client: AsyncElasticsearch, log: Path, samples: int) -> list[float]:
    """Seconds from a line appended to the file to a search finding it."""
    delays = []
    for _ in range(samples):
        marker = uuid.uuid4().hex
        with log.open("ab") as stream:
            stream.write(seed_line(0, marker))
        written = time.perf_counter()
        while True:
            response = await client.search(
                index="jarvis-logs-*", size=0, query={"term": {"marker": marker}}
            )
            if response["hits"]["total"]["value"]:
                delays.append(time.perf_counter() - written)
                break
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.2)
    return delays


async def run(lines_count: int, samples: int, workdir: Path, url: str) -> None:
    lines = [seed_line(n, f"bench-{n}") for n in range(lines_count)]
    await raw_bulk(url, lines[: lines_count // 5])  # warm the JVM up before either run
    raw_rate = await raw_bulk(url, lines)

    log = workdir / "app.jsonl"
    log.write_bytes(b"".join(lines))
    backlog = log.stat().st_size
    stderr = workdir / "shipper.err"
    command = [sys.executable, "-m", "shipper", "--path", str(log), "--metrics-port", "0"]
    command += ["--state-dir", str(workdir / "state"), "--elasticsearch-url", url]
    command += ["--batch-size", str(BATCH), "--senders", str(SENDERS)]
    client = AsyncElasticsearch(url)
    with stderr.open("wb") as err:
        started = time.perf_counter()
        process = await asyncio.create_subprocess_exec(*command, stderr=err)
    try:
        port = await status_port(stderr)
        async with aiohttp.ClientSession() as session:
            shipped = 0.0
            while shipped < lines_count:
                await asyncio.sleep(0.05)
                shipped = (await metrics(port, session))["shipper_events_shipped_total"]
        shipper_rate = lines_count / (time.perf_counter() - started)
        peak_rss = peak_memory_mib(process.pid)
        delays = await search_delay(client, log, samples)
    finally:
        process.terminate()
        await process.wait()
        await client.options(ignore_status=404).indices.delete(index="jarvis-logs-*")
        await client.close()

    print(f"lines: {lines_count} ({backlog / lines_count:.0f} bytes each)")
    print(f"raw _bulk from memory : {raw_rate:9.0f} events/s")
    print(f"jarvis-shipper (file) : {shipper_rate:9.0f} events/s")
    print(f"ratio shipper / raw   : {shipper_rate / raw_rate:9.2f}")
    print(f"shipper peak RSS      : {peak_rss:9.0f} MiB (backlog {backlog >> 20} MiB)")
    print(
        f"written -> searchable : median {statistics.median(delays):.2f} s, "
        f"max {max(delays):.2f} s over {len(delays)} lines (index refresh_interval 1 s)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=100_000)
    parser.add_argument("--samples", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as temp:
        workdir = Path(temp)
        with elasticsearch(workdir) as url:
            asyncio.run(run(args.lines, args.samples, workdir, url))


if __name__ == "__main__":
    main()
