"""Runs the Jarvis app for tests: in-process on a real loopback socket (``jarvis_server``) or
as a real ``jarvis serve`` subprocess (``start_jarvis_serve``), with its JSON log file."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
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

from jarvis.access_log import ACCESS_LOGGER, JsonAccessLogger
from jarvis.app import create_app
from jarvis.llm.base import LLMClient
from jarvis.logs.setup import configure_logging, unconfigure_logging
from jarvis.metrics import Metrics
from jarvis.settings import Settings


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def read_json_lines(path: Path) -> list[dict[str, Any]]:
    """Every line of a JSON log file, parsed; fails the test on any line that is not JSON."""
    if not path.exists():
        return []
    return [orjson.loads(line) for line in path.read_bytes().splitlines()]


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
        app = create_app(settings, metrics=metrics, log_writer=writer, llm=llm)
        if routes is not None:
            app.router.add_routes(routes)
        runner = web.AppRunner(
            app, access_log_class=JsonAccessLogger, access_log=ACCESS_LOGGER, shutdown_timeout=5
        )
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
