"""The Prometheus configuration ``jarvis dev`` writes: our rules, our job names, valid."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from jarvis.dev.layout import PROMETHEUS_RULES
from jarvis.dev.options import DevOptions
from jarvis.dev.prometheus_config import write_prometheus_config
from jarvis.dev.services import prometheus_targets

ROOT = Path(__file__).resolve().parents[2]


def _written(tmp_path: Path) -> tuple[Path, dict]:
    path = tmp_path / "prometheus.yml"
    write_prometheus_config(path, prometheus_targets(DevOptions(port=18000)), PROMETHEUS_RULES)
    return path, yaml.safe_load(path.read_text())


def test_the_jobs_are_those_of_the_committed_configuration_on_loopback(tmp_path):
    """The alert rules and dashboards select on job names: they must be the same."""
    _, config = _written(tmp_path)
    committed = yaml.safe_load((ROOT / "config" / "prometheus" / "prometheus.yml").read_text())
    assert [job["job_name"] for job in config["scrape_configs"]] == [
        job["job_name"] for job in committed["scrape_configs"]
    ]
    targets = {
        job["job_name"]: job["static_configs"][0]["targets"] for job in config["scrape_configs"]
    }
    assert targets == {
        "jarvis-api": ["127.0.0.1:18000"],
        "jarvis-shipper": ["127.0.0.1:9108"],
        "prometheus": ["127.0.0.1:9090"],
    }
    assert config["rule_files"] == [str(ROOT / "config" / "prometheus" / "alerts.yml")]


def test_promtool_accepts_it_with_its_rules(tmp_path):
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.fail("promtool is not on PATH: .ci/setup installs it (Debian package)")
    path, _ = _written(tmp_path)
    result = subprocess.run(
        [promtool, "check", "config", str(path)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout + result.stderr
