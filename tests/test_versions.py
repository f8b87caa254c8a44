"""Every command says which version it is, as operators check before and after a deploy."""

from __future__ import annotations

import subprocess
import sys
from importlib.metadata import version

import pytest


@pytest.mark.parametrize(
    ("module", "program"),
    [("jarvis", "jarvis"), ("shipper", "jarvis-shipper"), ("shipper.query", "jarvis-logs")],
)
def test_version_names_the_program_and_the_installed_release(module: str, program: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", module, "--version"], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"{program} {version('jarvis-observability')}"
