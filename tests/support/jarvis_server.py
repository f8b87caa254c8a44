"""Runs the Jarvis app for tests: in-process on a real loopback socket (``jarvis_server``) or
as a real ``jarvis serve`` subprocess (``start_jarvis_serve``), with its JSON log file; and
reads what it exposes: log lines, metric samples, WebSocket turns."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import re
import signal
import socket
import sys
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest_asyncio
from aiohttp import web

from jarvis.app import create_app
from jarvis.llm.base import LLMClient
from jarvis.llm.factory import create_llm_client
from jarvis.logs.setup import configure_logging, unconfigure_logging
from jarvis.metrics import Metrics
from jarvis.settings import Settings
from jarvis.web.keys import LOG_WRITER


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def read_json_lines(path: Path) -> list[dict[str, Any]]:
    """Every complete line of a JSON log file, parsed; fails the test on any that is not JSON.
    A line still being written (no newline yet) is left for the next read: a reader can see
    part of a write that spans pages."""
    if not path.exists():
        return []
    data = path.read_bytes()
    return [orjson.loads(line) for line in data[: data.rfind(b"\n") + 1].splitlines()]


def sample(text: str, name: str, **labels: str) -> float | None:
    """The value of one series in a Prometheus text exposition, or None when absent."""
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        match = re.fullmatch(r"([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)", line)
        if not match or match.group(1) != name:
            continue
        found = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', match.group(2) or ""))
        if found == labels:
            return float(match.group(3))
    return None


async def receive_turn(ws: aiohttp.ClientWebSocketResponse) -> list[dict[str, Any]]:
    """The frames of one WebSocket chat turn, up to and including its done or error frame."""
    frames = []
    while True:
        frame = await asyncio.wait_for(ws.receive_json(), 5)
        frames.append(frame)
        if frame["type"] in ("done", "error"):
            return frames


@dataclass
class RunningServer:
    url: str
    settings: Settings
    metrics: Metrics
    log_file: Path
    app: web.Application
    runner: web.AppRunner
    session: aiohttp.ClientSession
    stopped: bool = field(default=False)

    def logs(self) -> list[dict[str, Any]]:
        """The log file's lines, once the writer has written every line logged so far."""
        writer = self.app.get(LOG_WRITER)
        if writer is not None:
            assert writer.flush(), "the log writer did not write its queue in 5 s"
        return read_json_lines(self.log_file)

    async def wait_for_log(
        self, predicate: Callable[[dict[str, Any]], bool], timeout: float = 5.0
    ) -> dict[str, Any]:
        """The first log line matching ``predicate`` once the background writer has written it."""
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            for line in self.logs():
                if predicate(line):
                    return line
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError("no matching log line was written")
            await asyncio.sleep(0.02)

    async def metrics_text(self) -> str:
        async with self.session.get(self.url + "/metrics") as response:
            return await response.text()

    async def stop(self) -> None:
        if not self.stopped:
            self.stopped = True
            await self.runner.cleanup()


ServerFactory = Callable[..., Any]


@pytest_asyncio.fixture
async def jarvis_server(tmp_path: Path) -> AsyncIterator[ServerFactory]:
    """A factory: ``await jarvis_server(llm=..., **setting_overrides)`` starts the app on a
    free loopback port with JSON logs going to ``tmp_path/logs/jarvis.jsonl``."""
    started: list[tuple[RunningServer, Any]] = []

    async def start(
        llm: LLMClient | None = None, routes: Any = None, **overrides: Any
    ) -> RunningServer:
        log_file = tmp_path / "logs" / "jarvis.jsonl"
        values: dict[str, Any] = {
            "llm_provider": "echo",
            "log_file": str(log_file),
            "log_stdout": False,
            "log_level": "DEBUG",
            "memory_path": str(tmp_path / "memory.sqlite3"),
            "health_interval": 3600.0,
            "port": 8000,
        }
        values.update(overrides)
        settings = dataclasses.replace(Settings(), **values)
        writer = configure_logging(settings)
        metrics = Metrics.create()
        app = create_app(
            settings, metrics=metrics, log_writer=writer, llm=llm, extra_routes=routes or ()
        )
        # No logging arguments: create_app wires the access log itself.
        runner = web.AppRunner(app, shutdown_timeout=5)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        server = RunningServer(
            url=f"http://127.0.0.1:{port}",
            settings=settings,
            metrics=metrics,
            log_file=log_file,
            app=app,
            runner=runner,
            session=aiohttp.ClientSession(),
        )
        started.append((server, writer))
        return server

    yield start
    for server, writer in started:
        await server.session.close()
        await server.stop()
        unconfigure_logging(writer)


async def start_with_ollama(
    jarvis_server: ServerFactory, fake_ollama: Any, **overrides: Any
) -> RunningServer:
    """The server, talking to the loopback fake Ollama through the real Ollama client."""
    settings = dataclasses.replace(
        Settings(),
        llm_provider="ollama",
        ollama_url=fake_ollama.url,
        ollama_model="llama3.2:latest",
        ollama_read_timeout=1.0,
        ollama_total_timeout=2.0,
    )
    server: RunningServer = await jarvis_server(llm=create_llm_client(settings), **overrides)
    return server


@dataclass
class JarvisProcess:
    """A ``jarvis serve`` subprocess."""

    process: asyncio.subprocess.Process
    url: str
    log_file: Path
    stdout_path: Path

    def logs(self) -> list[dict[str, Any]]:
        return read_json_lines(self.log_file)

    async def terminate(self, timeout: float = 15.0) -> int:
        if self.process.returncode is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return await asyncio.wait_for(self.process.wait(), timeout)
        except TimeoutError:
            self.process.kill()
            await self.process.wait()
            raise


async def start_jarvis_serve(
    workdir: Path, env: dict[str, str] | None = None, port: int | None = None
) -> JarvisProcess:
    """Start ``jarvis serve`` (echo LLM unless ``env`` says otherwise) and wait for /health."""
    port = port or free_port()
    log_file = workdir / "logs" / "jarvis.jsonl"
    full_env = {
        **os.environ,
        "JARVIS_LLM": "echo",
        "LOG_FILE": str(log_file),
        "MEMORY_PATH": str(workdir / "memory.sqlite3"),
        "LOG_STDOUT": "false",
        **(env or {}),
    }
    stdout_path = workdir / "jarvis-serve.out"
    with stdout_path.open("wb") as out:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "jarvis", "serve", "--host", "127.0.0.1", "--port", str(port),
            cwd=workdir, env=full_env, stdout=out, stderr=asyncio.subprocess.STDOUT,
        )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    deadline = asyncio.get_running_loop().time() + 30
    async with aiohttp.ClientSession() as session:
        while True:
            if process.returncode is not None:
                raise RuntimeError(f"jarvis serve exited: {stdout_path.read_text()[-2000:]}")
            with contextlib.suppress(aiohttp.ClientError):
                async with session.get(url + "/health") as response:
                    if response.status in (200, 503):
                        break
            if asyncio.get_running_loop().time() > deadline:
                process.kill()
                raise RuntimeError("jarvis serve did not become ready in 30 s")
            await asyncio.sleep(0.1)
    return JarvisProcess(process=process, url=url, log_file=log_file, stdout_path=stdout_path)
