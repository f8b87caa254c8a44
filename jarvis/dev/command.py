"""``jarvis dev``: its options, and one run from the port checks to the last process stopped.

Exit status: 0 when stopped by Ctrl-C, SIGTERM or SIGHUP and every process stopped by itself;
1 when something did not start (one line on stderr says what), a process exited on its own,
or one had to be killed; 2 for a bad option or LOG_FORMAT.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import shutil
import signal
import sys
import time

import aiohttp

from jarvis.dev.layout import ES_DEV, PROMETHEUS_RULES
from jarvis.dev.options import DevOptions
from jarvis.dev.output import ProcessOutput
from jarvis.dev.ports import PortClaim, PortProblem, check_ports
from jarvis.dev.probes import elasticsearch_healthy, wait_until
from jarvis.dev.prometheus_config import write_prometheus_config
from jarvis.dev.services import (
    PROMETHEUS,
    STOP_ORDER,
    Service,
    plan_services,
    prometheus_targets,
)
from jarvis.dev.summary import summary_block
from jarvis.dev.supervisor import StartFailed, Supervisor, exit_text
from jarvis.logs.console import AUTO, LOG_FORMAT_RULE, LOG_FORMATS, use_console, wants_colour

_EXTERNAL_ES_TIMEOUT = 30.0


def run_dev(args: argparse.Namespace) -> int:
    """Run ``jarvis dev`` with parsed ``args`` until it is stopped; the exit status."""
    log_format = os.environ.get("LOG_FORMAT") or AUTO
    if log_format.lower() not in LOG_FORMATS:
        _error(f"{LOG_FORMAT_RULE}, not {log_format!r}")
        return 2
    options = DevOptions(
        port=args.port,
        es_port=args.es_port,
        shipper_port=args.shipper_port,
        prometheus_port=args.prometheus_port,
        data_dir=args.data_dir,
        llm=args.llm,
        external_elasticsearch=os.environ.get("ELASTICSEARCH_URL") or None,
    )
    services = plan_services(options, shutil.which("prometheus"))
    output = ProcessOutput(
        sys.stdout,
        [service.name for service in services],
        render=use_console(log_format, sys.stdout),
        colour=wants_colour(sys.stdout, os.environ),
    )
    return asyncio.run(_DevRun(options, services, output).run())


class _DevRun:
    def __init__(self, options: DevOptions, services: list[Service], output: ProcessOutput):
        self.options = options
        self.services = services
        self.output = output
        self.began = time.monotonic()
        # Set by the first stop signal, then by a second one: kill what is left at once.
        self.stop = asyncio.Event()
        self.hurry = asyncio.Event()

    async def run(self) -> int:
        problem = self._check_before_start()
        if problem is not None:
            _error(problem)
            return 1
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            loop.add_signal_handler(signum, self._on_stop_signal)
        async with aiohttp.ClientSession() as session:
            supervisor = Supervisor(self.output, session)
            try:
                failure = await self._run_until_stopped(supervisor, session)
            finally:
                clean = await supervisor.stop_all(STOP_ORDER, self.hurry)
        if failure is not None:
            _error(failure)
            return 1
        if not clean:
            _error("stopped, but some processes had to be killed (see the 'dev |' lines)")
            return 1
        self.output.note("everything stopped")
        return 0

    def _check_before_start(self) -> str | None:
        """Why nothing can start (a port taken, a missing file), before anything does."""
        try:
            check_ports([PortClaim(s.port, s.title, s.port_option) for s in self.services])
        except PortProblem as problem:
            return str(problem)
        names = {service.name for service in self.services}
        if self.options.external_elasticsearch is None and not (ES_DEV / "run.sh").is_file():
            return (
                f"{ES_DEV / 'run.sh'} not found: jarvis dev runs from a clone of the repository"
                " (or set ELASTICSEARCH_URL to use a running cluster)"
            )
        try:
            self.options.data.create()
            if PROMETHEUS in names:
                write_prometheus_config(
                    self.options.data.prometheus_config,
                    prometheus_targets(self.options),
                    PROMETHEUS_RULES,
                )
        except OSError as error:
            return f"cannot write under --data-dir {self.options.data_dir}: {error}"
        if PROMETHEUS not in names:
            self.output.note("Prometheus not started: no prometheus binary on PATH")
        return None

    async def _run_until_stopped(
        self, supervisor: Supervisor, session: aiohttp.ClientSession
    ) -> str | None:
        """Start everything, then wait for a stop signal; what went wrong, if anything."""
        stopping = asyncio.create_task(self.stop.wait())
        starting = asyncio.create_task(self._start_all(supervisor, session))
        try:
            await asyncio.wait({starting, stopping}, return_when=asyncio.FIRST_COMPLETED)
            if not starting.done():
                return None
            try:
                starting.result()
            except StartFailed as failed:
                self.output.note(f"{failed}; stopping what was started")
                return str(failed)
            self.output.block(
                summary_block(
                    self.options,
                    prometheus=any(s.name == PROMETHEUS for s in self.services),
                    elapsed=time.monotonic() - self.began,
                    colour=wants_colour(sys.stdout, os.environ),
                )
            )
            exited = asyncio.create_task(supervisor.first_exit())
            await asyncio.wait({exited, stopping}, return_when=asyncio.FIRST_COMPLETED)
            if not exited.done():
                exited.cancel()
                return None
            running = exited.result()
            status = running.process.returncode
            assert status is not None
            failure = f"{running.service.title} stopped on its own: it {exit_text(status)}"
            self.output.note(f"{failure}; stopping the rest")
            return failure
        finally:
            for task in (starting, stopping):
                task.cancel()
            await asyncio.gather(starting, stopping, return_exceptions=True)

    async def _start_all(self, supervisor: Supervisor, session: aiohttp.ClientSession) -> None:
        external = self.options.external_elasticsearch
        if external is not None:
            shown = self.options.elasticsearch_shown
            self.output.note(f"using the Elasticsearch cluster of ELASTICSEARCH_URL ({shown})")
            healthy = elasticsearch_healthy(self.options.elasticsearch_url)
            if not await wait_until(healthy, session, _EXTERNAL_ES_TIMEOUT):
                raise StartFailed(
                    f"Elasticsearch at {shown} (ELASTICSEARCH_URL) did not answer with health"
                    f" yellow or green within {_EXTERNAL_ES_TIMEOUT:g} s"
                )
        for service in self.services:
            await supervisor.start(service)

    def _on_stop_signal(self) -> None:
        if not self.stop.is_set():
            self.stop.set()
            self.output.note("stopping everything (press Ctrl-C again to kill it all at once)")
        elif not self.hurry.is_set():
            self.hurry.set()
            self.output.note("killing what is left")


def _error(message: str) -> None:
    # Once the terminal is gone (SIGHUP), there is no one to tell.
    with contextlib.suppress(OSError):
        print(f"jarvis dev: {message}", file=sys.stderr, flush=True)
