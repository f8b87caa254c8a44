"""Runs ``jarvis dev`` as a real subprocess, the way a user's shell would, and reads what it
prints: the ``dev |`` lines with each process's pid, the summary block, the error line."""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import re
import signal
import socket
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from jarvis.dev.summary import READY_HEADLINE

STARTED = re.compile(r"^dev +\| (?P<title>.+) started \(pid (?P<pid>\d+)\)")


@dataclass
class DevProcess:
    process: asyncio.subprocess.Process
    data_dir: Path
    ports: dict[str, int]
    stdout: list[str] = field(default_factory=list)
    stderr: list[str] = field(default_factory=list)
    _readers: list[asyncio.Task[None]] = field(default_factory=list)

    async def wait_for_line(self, matches: Callable[[str], bool], timeout: float) -> str:
        """The first stdout line ``matches`` accepts; fails with the output so far when
        ``jarvis dev`` exits first or the line does not come in time."""
        deadline = asyncio.get_running_loop().time() + timeout
        seen = 0
        while True:
            for line in self.stdout[seen:]:
                if matches(line):
                    return line
            seen = len(self.stdout)
            if self.process.returncode is not None:
                await self.finish(5)
                raise AssertionError(f"jarvis dev exited ({self.process.returncode}):\n{self}")
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"no such line within {timeout:g} s:\n{self}")
            await asyncio.sleep(0.1)

    async def wait_until_ready(self, timeout: float = 300) -> list[str]:
        """The summary block's lines, once printed."""
        await self.wait_for_line(lambda line: line.startswith(READY_HEADLINE), timeout)
        start = next(i for i, line in enumerate(self.stdout) if line.startswith(READY_HEADLINE))
        await self.wait_for_line(lambda line: line.startswith("─"), 10)
        end = next(i for i in range(start, len(self.stdout)) if self.stdout[i].startswith("─"))
        return self.stdout[start:end]

    def pids(self) -> dict[str, int]:
        """Each started process's pid, by the title ``jarvis dev`` gives it."""
        found = (STARTED.match(line) for line in self.stdout)
        return {match["title"]: int(match["pid"]) for match in found if match}

    async def finish(self, timeout: float) -> int:
        """Wait for ``jarvis dev`` to exit (killing it after ``timeout``) and for its output."""
        try:
            await asyncio.wait_for(self.process.wait(), timeout)
        except TimeoutError:
            self.process.kill()
            await self.process.wait()
            raise
        finally:
            await asyncio.wait(self._readers, timeout=10)
        return self.process.returncode if self.process.returncode is not None else -1

    async def stop(self, signum: int = signal.SIGINT, timeout: float = 180) -> int:
        if self.process.returncode is None:
            self.process.send_signal(signum)
        return await self.finish(timeout)

    def __str__(self) -> str:
        return "\n".join(["--- stdout", *self.stdout[-150:], "--- stderr", *self.stderr[-50:]])


def free_ports() -> dict[str, int]:
    """A free loopback port for each of the API, Elasticsearch, the shipper, Prometheus,
    below the kernel's ephemeral range: the dev node's transport port is any free one (as
    with jarvis dev's default ports, all below it), so a port picked from that range could be
    taken by Elasticsearch before Prometheus, started last, binds it."""
    low, _high = _ephemeral_range()
    picked: dict[str, int] = {}
    for name in ("api", "es", "shipper", "prometheus"):
        while name not in picked:
            port = random.randrange(max(1024, low - 12_000), low)
            if port not in picked.values() and _bindable(port):
                picked[name] = port
    return picked


def _ephemeral_range() -> tuple[int, int]:
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as ports:
            low, high = ports.read().split()
        return int(low), int(high)
    except (OSError, ValueError):
        return 32768, 60999


def _bindable(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


async def start_jarvis_dev(
    tmp_path: Path,
    *args: str,
    env: dict[str, str] | None = None,
    ports: dict[str, int] | None = None,
) -> DevProcess:
    """``jarvis dev`` on ``ports`` (free ones by default) with its data in ``tmp_path/dev``,
    stdout a pipe; the development node always (not an ELASTICSEARCH_URL cluster the suite
    may be given)."""
    ports = ports or free_ports()
    data_dir = tmp_path / "dev"
    environ = {
        key: value
        for key, value in os.environ.items()
        if key not in ("ELASTICSEARCH_URL", "LOG_FORMAT", "LOG_FILE", "NO_COLOR")
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "jarvis", "dev",
        "--port", str(ports["api"]), "--es-port", str(ports["es"]),
        "--shipper-port", str(ports["shipper"]), "--prometheus-port", str(ports["prometheus"]),
        "--data-dir", str(data_dir), *args,
        cwd=tmp_path, env={**environ, **(env or {})},
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    running = DevProcess(process, data_dir, ports)
    assert process.stdout is not None and process.stderr is not None
    running._readers = [
        asyncio.create_task(_collect(process.stdout, running.stdout)),
        asyncio.create_task(_collect(process.stderr, running.stderr)),
    ]
    return running


async def _collect(stream: asyncio.StreamReader, into: list[str]) -> None:
    while line := await stream.readline():
        into.append(line.decode(errors="replace").rstrip("\n"))


def processes_mentioning(text: str) -> list[str]:
    """The command lines of the live processes that name ``text`` (a data directory): what
    ``jarvis dev`` would have left behind."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        with contextlib.suppress(OSError):
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            if text in command and _alive(entry):
                found.append(f"{entry.name}: {command[:300]}")
    return found


def is_running(pid: int, mentioning: str) -> bool:
    """Whether ``pid`` is still the live process that names ``mentioning`` (not a reused
    pid, not a zombie waiting to be reaped)."""
    entry = Path("/proc") / str(pid)
    try:
        command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return False
    return mentioning in command and _alive(entry)


def _alive(entry: Path) -> bool:
    try:
        status = (entry / "stat").read_text()
    except OSError:
        return False
    # The state follows the parenthesised command name: Z is a zombie, X is dead.
    return status.rsplit(")", 1)[1].split()[0] not in ("Z", "X")
