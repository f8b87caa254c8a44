"""docker/docker-compose.yml is a valid Compose file whose paths, ports and variables are real.

No Docker engine runs here, so the file is validated against the Compose Specification's JSON
schema: ``tests/ops/compose_spec.json``, copied unchanged from ``compose/config/compose_spec.json``
in the PyPI package docker-compose 1.29.2 (Apache License 2.0), the last one that ships it. Then
every host path must exist in the repository, every variable given to our two services must be
one their settings read, and every port must be the one the process really listens on.
"""

from __future__ import annotations

import ast
import configparser
import json
import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import jsonschema
import pytest
import yaml

from jarvis.cli import build_parser as jarvis_parser
from jarvis.settings import Settings
from shipper.settings import ShipperSettings, load_settings

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_DIR = ROOT / "docker"
COMPOSE_FILE = COMPOSE_DIR / "docker-compose.yml"
SCHEMA_FILE = Path(__file__).with_name("compose_spec.json")
# Where each of our services reads its environment; a variable named nowhere here is a typo.
SETTINGS_SOURCES = {
    "jarvis-api": [ROOT / "jarvis" / "settings.py"],
    "jarvis-shipper": [
        ROOT / "shipper" / "settings.py",
        ROOT / "shipper" / "elastic.py",
    ],
}
EXPECTED_SERVICES = {
    "jarvis-api",
    "jarvis-shipper",
    "elasticsearch",
    "prometheus",
    "alertmanager",
    "grafana",
    "ollama",
}


def _compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE_FILE.read_text())


def _services() -> dict[str, Any]:
    return _compose()["services"]


def _validator() -> jsonschema.protocols.Validator:
    schema = json.loads(SCHEMA_FILE.read_text())
    # The file names draft 2019-09 by a URL that jsonschema does not recognise.
    jsonschema.Draft201909Validator.check_schema(schema)
    return jsonschema.Draft201909Validator(schema)


def _string_literals(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    return {
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str)
    }


def _container_port(mapping: str) -> int:
    """``"127.0.0.1:9200:9200"`` or ``"8000:8000"`` -> the container side."""
    return int(mapping.rsplit(":", 1)[1])


def _healthcheck_port(service: dict[str, Any]) -> int:
    test = " ".join(service["healthcheck"]["test"])
    match = re.search(r"http://localhost:(\d+)/", test)
    assert match, test
    return int(match.group(1))


def _scrape_targets() -> dict[str, str]:
    config = yaml.safe_load((ROOT / "config" / "prometheus" / "prometheus.yml").read_text())
    return {
        job["job_name"]: target
        for job in config["scrape_configs"]
        for static in job["static_configs"]
        for target in static["targets"]
    }


def _api_settings(service: dict[str, Any]) -> Settings:
    args = jarvis_parser().parse_args(service["command"][1:])
    # The image has no config/jarvis.toml: only defaults, environment and options apply.
    environ = {**service["environment"], "JARVIS_CONFIG": "/nonexistent/jarvis.toml"}
    return Settings.load(environ=environ, host=args.host, port=args.port)


def _shipper_settings(service: dict[str, Any]) -> ShipperSettings:
    return load_settings(service["command"][1:], service["environment"])


def test_compose_file_matches_the_compose_specification() -> None:
    errors = [e.message for e in _validator().iter_errors(_compose())]
    assert errors == []


def test_schema_rejects_a_misspelt_service_key() -> None:
    """Proves the schema is strict enough for the test above to mean something."""
    broken = _compose()
    broken["services"]["jarvis-api"]["helthcheck"] = broken["services"]["jarvis-api"].pop(
        "healthcheck"
    )
    assert list(_validator().iter_errors(broken))


def test_the_stack_has_every_service_each_with_a_healthcheck() -> None:
    services = _services()
    assert set(services) == EXPECTED_SERVICES
    for name, service in services.items():
        assert service["healthcheck"]["test"], name
        for dependency, condition in service.get("depends_on", {}).items():
            assert dependency in services, (name, dependency)
            assert condition["condition"] in ("service_healthy", "service_started"), name


def test_host_paths_exist_in_the_repository() -> None:
    services = _services()
    for name, service in services.items():
        for volume in service.get("volumes", []):
            source = volume.split(":", 1)[0]
            if source.startswith("."):
                assert (COMPOSE_DIR / source).exists(), (name, volume)
        build = service.get("build")
        if build:
            context = COMPOSE_DIR / build["context"]
            assert (context / build["dockerfile"]).is_file(), name


def test_seed_environment_and_volumes() -> None:
    api = _services()["jarvis-api"]
    env = api["environment"]
    assert env["LOG_FILE"] == "/app/logs/jarvis.jsonl"
    assert env["LOG_LEVEL"] == "INFO"
    assert env["PROMETHEUS_METRICS"] == "true"
    assert env["REQUEST_ID_HEADER"] == "X-Request-ID"
    assert "./logs:/app/logs:rw" in api["volumes"]
    assert "./logs:/app/logs:rw" in _services()["jarvis-shipper"]["volumes"]
    assert "../config/prometheus:/etc/prometheus:ro" in _services()["prometheus"]["volumes"]


@pytest.mark.parametrize("name", sorted(SETTINGS_SOURCES))
def test_environment_variables_are_read_by_the_service(name: str) -> None:
    known = set().union(*(_string_literals(p) for p in SETTINGS_SOURCES[name]))
    unknown = sorted(set(_services()[name]["environment"]) - known)
    assert unknown == [], f"{name} sets variables its settings never read"


def test_api_port_is_the_one_it_listens_on_everywhere() -> None:
    api = _services()["jarvis-api"]
    settings = _api_settings(api)
    assert settings.host == "0.0.0.0"
    assert [_container_port(p) for p in api["ports"]] == [settings.port]
    assert _healthcheck_port(api) == settings.port
    assert _scrape_targets()["jarvis-api"] == f"jarvis-api:{settings.port}"


def test_api_logs_where_the_shipper_tails() -> None:
    services = _services()
    api_log = Path(_api_settings(services["jarvis-api"]).log_file)
    shipper = services["jarvis-shipper"]
    settings = _shipper_settings(shipper)
    assert Path(settings.path) == api_log
    assert "/app/logs" in {v.split(":")[1] for v in shipper["volumes"]}


def test_shipper_ports_and_state_match_its_settings() -> None:
    shipper = _services()["jarvis-shipper"]
    settings = _shipper_settings(shipper)
    assert settings.metrics_host == "0.0.0.0"
    assert _healthcheck_port(shipper) == settings.metrics_port
    assert _scrape_targets()["jarvis-shipper"] == f"jarvis-shipper:{settings.metrics_port}"
    mounts = {v.split(":")[1]: v.split(":")[0] for v in shipper["volumes"]}
    assert mounts.get(str(settings.state_dir)) == "shipper-state", "registry would not persist"
    es = urlsplit(settings.elasticsearch.url)
    services = _services()
    assert es.hostname in services
    assert es.port in [_container_port(p) for p in services[es.hostname]["ports"]]


def test_prometheus_grafana_and_alertmanager_reach_each_other() -> None:
    services = _services()
    config = yaml.safe_load((ROOT / "config" / "prometheus" / "prometheus.yml").read_text())
    for manager in config["alerting"]["alertmanagers"]:
        for target in manager["static_configs"][0]["targets"]:
            host, port = target.split(":")
            assert int(port) in [_container_port(p) for p in services[host]["ports"]]
    datasources = yaml.safe_load(
        (
            ROOT / "config" / "grafana" / "provisioning" / "datasources" / "prometheus.yml"
        ).read_text()
    )["datasources"]
    for source in datasources:
        url = urlsplit(source["url"])
        assert url.port in [_container_port(p) for p in services[url.hostname]["ports"]]


def test_dockerfile_healthcheck_matches_the_seed() -> None:
    text = (COMPOSE_DIR / "Dockerfile").read_text()
    assert "FROM python:3.11-slim" in text
    assert re.search(r"^USER (?!root)\w+", text, re.M), "the image must not run as root"
    healthcheck = re.search(r"^HEALTHCHECK (.*?)\n(?!\s)", text, re.M | re.S)
    assert healthcheck
    options = dict(re.findall(r"--([\w-]+)=(\S+)", healthcheck.group(1)))
    assert options == {"interval": "30s", "timeout": "10s", "start-period": "40s", "retries": "3"}
    assert '"curl", "-f", "http://localhost:8000/health"' in healthcheck.group(1)
    for source in re.findall(r"^COPY (?!--)(.+) \S+$", text, re.M):
        for path in source.split():
            assert (ROOT / path).exists(), path


def test_alertmanager_routes_only_to_defined_receivers() -> None:
    config = yaml.safe_load((ROOT / "config" / "alertmanager" / "alertmanager.yml").read_text())
    receivers = {r["name"] for r in config["receivers"]}
    routes = [config["route"], *config["route"].get("routes", [])]
    assert {r["receiver"] for r in routes} <= receivers


def test_our_services_run_the_console_scripts_setup_cfg_installs() -> None:
    parser = configparser.ConfigParser()
    parser.read(ROOT / "setup.cfg")
    scripts = {
        line.split("=")[0].strip()
        for line in parser["options.entry_points"]["console_scripts"].splitlines()
        if line.strip()
    }
    for name in ("jarvis-api", "jarvis-shipper"):
        assert _services()[name]["command"][0] in scripts, name
