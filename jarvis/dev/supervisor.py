"""Starts the services one after the other, each once the previous is ready; watches them;
stops them in a given order, each given its own graceful stop before it is killed.

Every child runs in a session of its own: the Ctrl-C a terminal sends to its foreground
group reaches ``jarvis dev`` alone, which then stops the children in order (all of them
receiving SIGINT at once would stop the shipper before the server's last lines).
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import signal
import sys
import time
from collections.abc import Awaitable, Iterable
from dataclasses import dataclass

import aiohttp

from jarvis.dev.output import ProcessOutput, relay_lines
from jarvis.dev.probes import wait_until
from jarvis.dev.services import Service
from jarvis.logline import decode_line
from jarvis.logs.console import safe_text

# Before asking the shipper whether it caught up, give its tailer time to see the server's
# last lines: several of its polls (every 0.25 s by default).
_SETTLE_SECONDS = 1.0
# The longest wait for the shipper's backlog before it is stopped all the same: it keeps
# what it did not ship in its registry, for its next start.
_DRAIN_SECONDS = 15.0
# How long the relay of a process's lines may take to reach their end once it exited.
_RELAY_SECONDS = 5.0
# Enough for an error message, short enough for the one line jarvis dev ends with.
_LAST_WORDS_CHARS = 240


class StartFailed(Exception):
    """A service did not start; the message, one line, says which and why."""


class LastWords:
    """The last line a process printed that can explain its exit: not a blank line nor an
    indented one (a stack frame), a JSON log line by its message; cut to one short line."""

    def __init__(self) -> None:
        self.text = ""

    def seen(self, line: bytes) -> None:
        if not line.strip() or line[:1] in (b" ", b"\t"):
            return
        event = decode_line(line)
        if event is not None:
            text = str(event.get("message") or event.get("action") or "")
        else:
            text = line.decode(errors="replace").strip()
        if text:
            self.text = safe_text(text)[:_LAST_WORDS_CHARS]

    def because(self, fallback: str) -> str:
        """``: <last words>``, or `` (fallback)`` when it printed nothing useful."""
        return f": {self.text}" if self.text else f" ({fallback})"


@dataclass
class Running:
    service: Service
    process: asyncio.subprocess.Process
    relays: list[asyncio.Task[None]]
    last_words: LastWords


class Supervisor:
    """The processes of one ``jarvis dev`` run, started by ``start`` and stopped by
    ``stop_all``; their lines go to ``output``."""

    def __init__(self, output: ProcessOutput, session: aiohttp.ClientSession) -> None:
        self._output = output
        self._session = session
        self._running: dict[str, Running] = {}

    async def start(self, service: Service) -> None:
        """Start ``service`` and return once it is ready. StartFailed when it cannot be
        launched, exits first, or is not ready in time; it is then left for ``stop_all``."""
        if service.prepare is not None:
            await self._prepare(service)
        began = time.monotonic()
        running = await self._spawn(service)
        process = running.process
        self._output.note(
            f"{service.title} started (pid {process.pid}), waiting for {service.ready_what}"
        )
        ready = await wait_until(
            service.ready,
            self._session,
            service.ready_timeout,
            give_up=lambda: process.returncode is not None,
        )
        if ready:
            self._output.note(f"{service.title} ready in {time.monotonic() - began:.1f} s")
            return
        if process.returncode is not None:
            await _settle(running.relays)
            why = running.last_words.because(f"its '{service.name} |' lines say why")
            raise StartFailed(
                f"{service.title} {exit_text(process.returncode)} before it was ready{why}"
            )
        raise StartFailed(
            f"{service.title} was not ready within {service.ready_timeout:g} s"
            f" (waited for {service.ready_what})"
        )

    async def first_exit(self) -> Running:
        """The first of the running processes to exit (none should before ``stop_all``)."""
        waits = {
            asyncio.ensure_future(running.process.wait()): running
            for running in self._running.values()
        }
        try:
            done, _ = await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in waits:
                task.cancel()
        return waits[next(iter(done))]

    async def stop_all(self, order: Iterable[str], hurry: asyncio.Event) -> bool:
        """Stop every started process, those named in ``order`` first and in that order.
        Once ``hurry`` is set, the rest are killed without waiting. True when every process
        stopped by itself, none had to be killed."""
        names = [name for name in order if name in self._running]
        names += [name for name in self._running if name not in names]
        clean = True
        for name in names:
            clean = await self._stop(self._running.pop(name), hurry) and clean
        return clean

    async def _prepare(self, service: Service) -> None:
        assert service.prepare is not None
        process = await self._launch(service, service.prepare, stdin_pipe=False)
        last_words = LastWords()
        relays = self._relay(service.name, process, last_words)
        try:
            status = await process.wait()
        except asyncio.CancelledError:
            _kill(process)
            await process.wait()
            raise
        await _settle(relays)
        if status != 0:
            why = last_words.because(f"its '{service.name} |' lines say why")
            raise StartFailed(
                f"{service.title} could not be prepared: {' '.join(service.prepare)} exited"
                f" with status {status}{why}"
            )

    async def _spawn(self, service: Service) -> Running:
        process = await self._launch(service, service.command, stdin_pipe=service.stdin_pipe)
        last_words = LastWords()
        running = Running(
            service, process, self._relay(service.name, process, last_words), last_words
        )
        self._running[service.name] = running
        return running

    async def _launch(
        self, service: Service, command: tuple[str, ...], *, stdin_pipe: bool
    ) -> asyncio.subprocess.Process:
        try:
            return await asyncio.create_subprocess_exec(
                *command,
                stdin=asyncio.subprocess.PIPE if stdin_pipe else asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                env={**os.environ, **service.env},
                start_new_session=True,
                preexec_fn=_die_with_parent,
            )
        except OSError as error:
            raise StartFailed(
                f"{service.title} could not be started ({command[0]}: {error.strerror or error})"
            ) from None

    def _relay(
        self, name: str, process: asyncio.subprocess.Process, last_words: LastWords
    ) -> list[asyncio.Task[None]]:
        def emit(line: bytes) -> None:
            self._output.line(name, line)
            last_words.seen(line)

        return [
            asyncio.create_task(relay_lines(stream, emit))
            for stream in (process.stdout, process.stderr)
            if stream is not None
        ]

    async def _stop(self, running: Running, hurry: asyncio.Event) -> bool:
        service, process = running.service, running.process
        title = service.title
        if process.returncode is not None:
            await _settle(running.relays)
            self._output.note(f"{title} {exit_text(process.returncode)} earlier")
            return True
        if service.drained is not None and not hurry.is_set():
            await self._wait_drained(running, hurry)
        clean = True
        if process.returncode is None:
            self._output.note(f"stopping {title}")
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signal.SIGTERM)
            await _until(process.wait(), hurry, service.stop_timeout)
            if process.returncode is None:
                _kill(process)
                await process.wait()
                clean = hurry.is_set()
                why = "as asked" if clean else f"it did not stop within {service.stop_timeout:g} s"
                self._output.note(f"{title} killed ({why})")
        if process.stdin is not None:
            process.stdin.close()
        await _settle(running.relays)
        self._output.note(f"{title} stopped")
        return clean

    async def _wait_drained(self, running: Running, hurry: asyncio.Event) -> None:
        service, process = running.service, running.process
        assert service.drained is not None
        self._output.note(f"waiting for {service.title} to ship the last lines")
        await _until(asyncio.sleep(_SETTLE_SECONDS), hurry, _SETTLE_SECONDS + 1)
        caught_up = wait_until(
            service.drained,
            self._session,
            _DRAIN_SECONDS,
            give_up=lambda: hurry.is_set() or process.returncode is not None,
        )
        if not await _until(caught_up, hurry, _DRAIN_SECONDS + 5):
            self._output.note(
                f"{service.title} has not shipped everything; it keeps the rest for its next start"
            )


async def _until(awaitable: Awaitable[object], hurry: asyncio.Event, timeout: float) -> bool:
    """Wait for ``awaitable`` at most ``timeout`` seconds, or until ``hurry`` is set; True
    when it finished with a true result (or None) in time."""
    task = asyncio.ensure_future(awaitable)
    hurried = asyncio.ensure_future(hurry.wait())
    try:
        await asyncio.wait({task, hurried}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for pending in (task, hurried):
            pending.cancel()
        await asyncio.gather(task, hurried, return_exceptions=True)
    if not task.done() or task.cancelled() or task.exception() is not None:
        return False
    return task.result() is not False


async def _settle(relays: list[asyncio.Task[None]]) -> None:
    """Let the relays pass on a finished process's last lines (bounded: a grandchild could
    hold its pipes open)."""
    if relays:
        await asyncio.wait(relays, timeout=_RELAY_SECONDS)
    for relay in relays:
        relay.cancel()


def _kill(process: asyncio.subprocess.Process) -> None:
    with contextlib.suppress(ProcessLookupError):
        process.kill()


def exit_text(status: int) -> str:
    """``exited with status 2``, or ``was killed by SIGKILL`` for a signal's death."""
    if status < 0:
        with contextlib.suppress(ValueError):
            return f"was killed by {signal.Signals(-status).name}"
        return f"was killed by signal {-status}"
    return f"exited with status {status}"


# Linux's prctl(PR_SET_PDEATHSIG): a child asking to be sent SIGTERM when jarvis dev dies,
# even by SIGKILL, when nothing is left to stop it in order. Loaded before any fork: the
# child, between fork and exec, only makes the call.
_PR_SET_PDEATHSIG = 1
_LIBC = ctypes.CDLL(None, use_errno=True) if sys.platform.startswith("linux") else None


def _die_with_parent() -> None:
    if _LIBC is not None:
        _LIBC.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
