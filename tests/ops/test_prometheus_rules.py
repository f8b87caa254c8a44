"""The Prometheus config and alert rules pass promtool, and every alert is unit-tested both ways."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

PROMETHEUS_DIR = Path(__file__).resolve().parents[2] / "config" / "prometheus"
RULES_FILE = PROMETHEUS_DIR / "alerts.yml"
UNIT_TEST_FILES = sorted((PROMETHEUS_DIR / "tests").glob("*.yml"))

# The Monitoring Playbook's alerts (seed v1.3): alert name -> (severity, metric it watches).
PLAYBOOK_ALERTS = {
    "JarvisWebSocketOverload": ("critical", "ws_active_connections"),
    "JarvisOllamaDown": ("critical", 'service_health_status{service="ollama"}'),
    "JarvisRateLimitFlood": ("critical", "rate_limit_hits_total"),
    "JarvisLlmSlow": ("warning", "llm_generate_seconds_bucket"),
    "JarvisChatErrors": ("warning", "chat_errors_total"),
}


def _promtool(*args: str) -> subprocess.CompletedProcess[str]:
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.fail("promtool is not on PATH: .ci/setup installs it (Debian package prometheus)")
    return subprocess.run(
        [promtool, *args], cwd=PROMETHEUS_DIR, capture_output=True, text=True, timeout=120
    )


def _alert_rules() -> list[dict]:
    groups = yaml.safe_load(RULES_FILE.read_text())["groups"]
    return [rule for group in groups for rule in group["rules"] if "alert" in rule]


def test_prometheus_config_and_its_rule_files_pass_promtool() -> None:
    result = _promtool("check", "config", "prometheus.yml")
    assert result.returncode == 0, result.stdout + result.stderr


def test_alert_rules_pass_promtool() -> None:
    result = _promtool("check", "rules", RULES_FILE.name)
    assert result.returncode == 0, result.stdout + result.stderr


def test_alert_unit_tests_pass() -> None:
    assert UNIT_TEST_FILES, "no promtool unit tests under config/prometheus/tests"
    result = _promtool("test", "rules", *(str(p) for p in UNIT_TEST_FILES))
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_alert_is_unit_tested_firing_and_silent() -> None:
    """A rule with only firing cases could fire always; one with only silent cases, never."""
    firing: set[str] = set()
    silent: set[str] = set()
    for path in UNIT_TEST_FILES:
        for case in yaml.safe_load(path.read_text())["tests"]:
            for check in case.get("alert_rule_test", []):
                (firing if check.get("exp_alerts") else silent).add(check["alertname"])
    names = {rule["alert"] for rule in _alert_rules()}
    assert names - firing == set(), "alerts never shown to fire"
    assert names - silent == set(), "alerts never shown to stay silent"


def test_every_alert_tells_the_on_call_what_to_do() -> None:
    for rule in _alert_rules():
        assert rule["labels"]["severity"] in ("critical", "warning"), rule["alert"]
        for annotation in ("summary", "description", "runbook"):
            assert rule["annotations"].get(annotation, "").strip(), (rule["alert"], annotation)


def test_playbook_alerts_watch_the_metrics_and_severities_it_names() -> None:
    rules = {rule["alert"]: rule for rule in _alert_rules()}
    for name, (severity, metric) in PLAYBOOK_ALERTS.items():
        assert name in rules, name
        assert rules[name]["labels"]["severity"] == severity, name
        assert metric in rules[name]["expr"], name
        assert rules[name].get("for"), f"{name} would page on a single bad scrape"
