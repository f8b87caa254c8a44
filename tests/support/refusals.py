"""Runs ``jarvis``, ``jarvis-shipper`` or ``jarvis-logs`` as a real process, the way a user's
shell does, and checks a refusal the way every command must refuse a bad setting: exit status
2, one line on stderr naming where the value came from, no traceback, nothing started."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from pathlib import Path

from jarvis.config import env_names
from jarvis.settings import Settings
from shipper.elastic import ElasticsearchSettings
from shipper.settings import ShipperSettings

COMMANDS = {
    "jarvis": [sys.executable, "-m", "jarvis"],
    "jarvis-shipper": [sys.executable, "-m", "shipper"],
    "jarvis-logs": [sys.executable, "-m", "shipper.query"],
}
# Variables the test's own environment may carry that would change the command's settings.
SETTING_VARIABLES = frozenset(
    {"JARVIS_CONFIG", "SHIPPER_CONFIG"}
    | {
        name
        for cls in (Settings, ShipperSettings, ElasticsearchSettings)
        for field in dataclasses.fields(cls)
        for name in env_names(field)
    }
)


def run_command(
    program: str, *args: str, cwd: Path, env: dict[str, str] | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """``program ARGS`` in ``cwd``, with the test's environment minus Jarvis settings, plus
    ``env``."""
    environ = {key: value for key, value in os.environ.items() if key not in SETTING_VARIABLES}
    environ.update(env or {})
    return subprocess.run(
        [*COMMANDS[program], *args],
        cwd=cwd,
        env=environ,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def refusal_line(result: subprocess.CompletedProcess[str], program: str) -> str:
    """The one line a refused start printed; fails the test unless it is exactly that."""
    assert result.returncode == 2, (result.returncode, result.stderr)
    assert "Traceback" not in result.stderr, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"{program}"), lines[0]
    assert "ready" not in result.stdout and "started" not in result.stdout
    return lines[0]
