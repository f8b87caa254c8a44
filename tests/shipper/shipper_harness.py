"""Runs ``python -m shipper`` as a real subprocess and reads back what reached Elasticsearch."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import gzip
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import orjson
from elasticsearch import AsyncElasticsearch

from shipper.elastic import INDEX_PATTERN

HERE = Path(__file__).parent
FAST_OPTIONS = {
    "--poll-interval": "0.05",
    "--flush-interval": "0.2",
    "--close-inactive": "0.5",
    "--retry-initial": "0.05",
    "--retry-max": "0.5",
    "--shutdown-timeout": "5",
}


@dataclass
class ShipperProcess:
    log_path: Path
    state_dir: Path
    es_url: str
    options: dict[str, str] = field(default_factory=dict)
    process: subprocess.Popen[bytes] | None = None
    starts: int = 0
    # Run the shipper under this command (``prlimit ... --``), if any.
    prefix: list[str] = field(default_factory=list)

    @property
    def stderr_path(self) -> Path:
        return self.state_dir.parent / f"shipper-stderr-{self.starts}.log"

    def start(self) -> None:
        self.starts += 1
        self.state_dir.mkdir(parents=True, exist_ok=True)
        command = [*self.prefix, sys.executable, "-m", "shipper", "--path", str(self.log_path)]
        command += ["--state-dir", str(self.state_dir), "--metrics-port", "0"]
        command += ["--elasticsearch-url", self.es_url]
        for option, value in {**FAST_OPTIONS, **self.options}.items():
            command += [option, value]
        with open(self.stderr_path, "wb") as stderr:
            self.process = subprocess.Popen(command, stderr=stderr, stdout=subprocess.DEVNULL)

    def own_logs(self) -> list[dict[str, object]]:
        """The shipper's JSON log lines (stderr) of its latest start."""
        if not self.stderr_path.exists():
            return []
        lines = []
        for raw in self.stderr_path.read_bytes().splitlines():
            try:
                lines.append(orjson.loads(raw))
            except orjson.JSONDecodeError:
                lines.append({"message": raw.decode(errors="replace")})
        return lines

    async def status_port(self, timeout: float = 30.0) -> int:
        for _ in range(int(timeout / 0.05)):
            for entry in self.own_logs():
                if "status_port" in entry:
                    return int(entry["status_port"])  # type: ignore[call-overload]
            assert self.process is not None and self.process.poll() is None, self.own_logs()
            await asyncio.sleep(0.05)
        raise AssertionError("the shipper never reported its status port")

    async def metrics(self) -> dict[str, float]:
        """Current values of the un-labelled series, and ``name{labels}`` of the others."""
        port = await self.status_port()
        async with aiohttp.ClientSession() as session:
            async with session.get(f"http://127.0.0.1:{port}/metrics") as response:
                text = await response.text()
        values = {}
        for line in text.splitlines():
            if line and not line.startswith("#"):
                name, value = line.rsplit(" ", 1)
                values[name] = float(value)
        return values

    async def health(self) -> dict[str, Any]:
        port = await self.status_port()
        async with aiohttp.ClientSession() as session:
            async with session.get(f"http://127.0.0.1:{port}/health") as response:
                assert response.status == 200
                return dict(await response.json())

    def kill(self) -> None:
        """``kill -9``: no flush, no registry save."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    async def stop(self, timeout: float = 30.0) -> int:
        """SIGTERM, then the exit status."""
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        for _ in range(int(timeout / 0.05)):
            if self.process.poll() is not None:
                return self.process.returncode
            await asyncio.sleep(0.05)
        self.process.kill()
        raise AssertionError("the shipper did not stop on SIGTERM")

    async def wait_until_caught_up(self, expected_shipped: int, timeout: float = 120.0) -> None:
        """Until every line it read is acknowledged and at least ``expected_shipped`` were."""
        metrics: dict[str, float] = {}
        for _ in range(int(timeout / 0.2)):
            metrics = await self.metrics()
            done = (
                metrics["shipper_events_shipped_total"]
                + metrics["shipper_events_dead_lettered_total"]
            )
            if done >= expected_shipped and metrics["shipper_lag_bytes"] == 0:
                return
            await asyncio.sleep(0.2)
        raise AssertionError(f"shipper not caught up: {metrics}\n{self.evidence()}")

    def evidence(self) -> str:
        """What a failure leaves to explain it: the log directory's files (inode, size), the
        shipper's saved registry, which says what it holds of each, and its last words."""
        files = []
        for path in sorted(self.log_path.parent.glob(self.log_path.name + "*")):
            with contextlib.suppress(OSError):
                stat = path.stat()
                files.append(f"  {path.name}: inode {stat.st_ino}, {stat.st_size} bytes")
        saved = []
        for path in sorted(self.state_dir.glob("*")):
            with contextlib.suppress(OSError):
                saved.append(f"{path.name}: {path.read_text(errors='replace')[:20_000]}")
        stderr = ""
        with contextlib.suppress(OSError):
            stderr = self.stderr_path.read_text(errors="replace")[-4_000:]
        return (
            "files:\n" + "\n".join(files) + "\nstate:\n" + "\n".join(saved)
            + "\nits stderr, the end:\n" + stderr
        )  # fmt: skip


def backup_names(directory: Path, prefix: str = "app.jsonl") -> list[str]:
    """Names of the rotated backups of ``prefix`` in ``directory``."""
    return sorted(p.name for p in directory.glob(prefix + ".*") if not p.name.endswith(".tmp"))


def lines_on_disk(directory: Path, prefix: str = "app.jsonl") -> list[dict[str, Any]]:
    """Every complete JSON line in the log files and backups (plain or gzip) in ``directory``.

    A copy taken while a line was being written ends in part of it: not a line, left out. A
    shipper may rotate, shift or compress the files while they are read: the files are read
    again until no name moved to another file meanwhile, and a backup that is both plain and
    compressed (the plain one is about to be removed) is read once, from its gzip.
    """
    for _ in range(50):
        names = _names_and_inodes(directory, prefix)
        try:
            found = [line for path in _readable(directory, names) for line in _complete_lines(path)]
        except FileNotFoundError:
            continue
        if _names_and_inodes(directory, prefix) == names:
            return found
    raise AssertionError(f"the files in {directory} kept moving while read")


def _names_and_inodes(directory: Path, prefix: str) -> dict[str, int]:
    found = {}
    for path in directory.glob(prefix + "*"):
        with contextlib.suppress(FileNotFoundError):
            if not path.name.endswith(".tmp"):
                found[path.name] = path.stat().st_ino
    return found


def _readable(directory: Path, names: dict[str, int]) -> list[Path]:
    return [directory / name for name in sorted(names) if name + ".gz" not in names]


def _complete_lines(path: Path) -> list[dict[str, Any]]:
    data = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    complete = data[: data.rfind(b"\n") + 1]
    return [orjson.loads(raw) for raw in complete.splitlines() if raw.strip()]


def markers_on_disk(directory: Path, prefix: str = "app.jsonl") -> list[str]:
    """Every ``marker`` in the log files and backups in ``directory``."""
    return [line["marker"] for line in lines_on_disk(directory, prefix)]


async def markers_in_elasticsearch(client: AsyncElasticsearch) -> collections.Counter[str]:
    """How many documents carry each ``marker`` in every jarvis-logs index."""
    await client.indices.refresh(index=INDEX_PATTERN)
    counts: collections.Counter[str] = collections.Counter()
    after = None
    while True:
        composite: dict[str, object] = {
            "size": 10000,
            "sources": [{"marker": {"terms": {"field": "marker"}}}],
        }
        if after:
            composite["after"] = after
        response = await client.search(
            index=INDEX_PATTERN, size=0, aggregations={"m": {"composite": composite}}
        )
        aggregation = response["aggregations"]["m"]
        for bucket in aggregation["buckets"]:
            counts[bucket["key"]["marker"]] += bucket["doc_count"]
        after = aggregation.get("after_key")
        if not aggregation["buckets"] or not after:
            return counts


async def run_writer(
    path: Path, count: int, prefix: str, *extra: str
) -> asyncio.subprocess.Process:
    """Start ``log_writer.py`` writing ``count`` lines to ``path`` as fast as it can."""
    return await asyncio.create_subprocess_exec(
        sys.executable,
        str(HERE / "log_writer.py"),
        str(path),
        str(count),
        prefix,
        *extra,
        env={**os.environ},
    )


def writer_markers(prefix: str, count: int) -> list[str]:
    """The markers ``log_writer.py`` writes for ``prefix`` and ``count``."""
    return [f"{prefix}-{n}" for n in range(count)]


async def wait_for_metric(
    shipper: ShipperProcess, name: str, accept: Callable[[float], bool], timeout: float = 120.0
) -> dict[str, float]:
    """Poll the shipper's /metrics until ``accept(metrics[name])``; returns all of them."""
    metrics: dict[str, float] = {}
    for _ in range(int(timeout / 0.1)):
        metrics = await shipper.metrics()
        if accept(metrics[name]):
            return metrics
        await asyncio.sleep(0.1)
    raise AssertionError(f"{name} never reached the expected value: {metrics}")


def assert_exactly_once(
    stored: collections.Counter[str], written: list[str], may_also_hold: Iterable[str] = ()
) -> None:
    """Every line written is stored once: none missing, none twice, nothing else (but for
    ``may_also_hold``: lines that existed for a while and may have been read then)."""
    duplicated = {marker: n for marker, n in stored.items() if n != 1}
    assert not duplicated, f"{len(duplicated)} markers stored more than once"
    missing = set(written) - set(stored)
    assert not missing, f"{len(missing)} of {len(written)} lines never reached Elasticsearch"
    extra = set(stored) - set(written) - set(may_also_hold)
    assert not extra, f"{len(extra)} unexpected documents"
    assert len(written) == len(set(written))
