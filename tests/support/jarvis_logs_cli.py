"""Runs ``jarvis-logs`` as a real subprocess, the way a user's shell would."""

from __future__ import annotations

import asyncio
import os
import sys
from dataclasses import dataclass

import orjson

CLI_TIMEOUT_SECONDS = 60


@dataclass(frozen=True)
class CliResult:
    status: int
    stdout: str
    stderr: str


def cli_environment(**extra: str) -> dict[str, str]:
    """The test's environment without settings that would change the CLI's choices."""
    environ = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("ELASTICSEARCH_") and key not in ("NO_COLOR", "LOG_FILE", "PAGER")
    }
    environ.update(extra)
    return environ


async def run_cli(*args: str, **environ: str) -> CliResult:
    """``jarvis-logs ARGS``; stdout is a pipe, so no colour and no pager."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "shipper.query",
        *args,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=cli_environment(**environ),
    )
    try:
        stdout, stderr = await asyncio.wait_for(process.communicate(), CLI_TIMEOUT_SECONDS)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise
    assert process.returncode is not None
    return CliResult(process.returncode, stdout.decode(), stderr.decode())


def jsonl(text: str) -> list[dict]:
    """The events of a ``--json`` output, one JSON object per line."""
    return [orjson.loads(line) for line in text.splitlines() if line.strip()]
