"""docker/docker-compose.yml is a valid Compose file whose paths, ports and variables are real.

No Docker engine runs here, so the file is validated against the Compose Specification's JSON
schema: ``tests/ops/compose_spec.json``, copied unchanged from ``compose/config/compose_spec.json``
in the PyPI package docker-compose 1.29.2 (Apache License 2.0), the last one that ships it. Then
every host path must exist in the repository, every variable given to our two services must be
one their settings read, and every port must be the one the process really listens on. The stack
must survive ``docker compose up --scale jarvis-api=3``: nothing on the API that two replicas
would share, each replica's log file followed by the shipper, every replica scraped.
"""

from __future__ import annotations

import ast
import configparser
import graphlib
import json
import os
import re
import shlex
import subprocess
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urlsplit

import jsonschema
import pytest
import yaml

from jarvis.cli import build_parser as jarvis_parser
from jarvis.settings import Settings
from shipper.settings import ShipperSettings, load_settings
from shipper.source.backups import backups_of, live_paths

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
    "jarvis-proxy",
    "jarvis-api",
    "redis",
    "jarvis-shipper",
    "elasticsearch",
    "prometheus",
    "alertmanager",
    "grafana",
    "ollama",
}
# Run as several replicas (`docker compose up --scale jarvis-api=3`).
SCALED_SERVICES = ["jarvis-api"]
# Container host names as Docker makes them (the container ID's first 12 hex digits).
REPLICA_HOSTS = ["3f2a9c1d0b7e", "a81c44d0e9f2", "0c5b7e2d1f00"]


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


def _scrape_jobs() -> dict[str, dict[str, Any]]:
    config = yaml.safe_load((ROOT / "config" / "prometheus" / "prometheus.yml").read_text())
    return {job["job_name"]: job for job in config["scrape_configs"]}


def _scrape_targets() -> dict[str, list[str]]:
    """``host:port`` of each job: its static targets, or the names it discovers by DNS."""
    targets: dict[str, list[str]] = {}
    for name, job in _scrape_jobs().items():
        found = targets.setdefault(name, [])
        for static in job.get("static_configs", []):
            found.extend(static["targets"])
        for dns in job.get("dns_sd_configs", []):
            found.extend(f"{host}:{dns['port']}" for host in dns["names"])
    return targets


def _image_environment() -> dict[str, str]:
    """The ``ENV`` of docker/Dockerfile's final stage: what every container starts with."""
    text = (COMPOSE_DIR / "Dockerfile").read_text().replace("\\\n", " ")
    final_stage = text.rsplit("\nFROM ", 1)[1]
    environment = {}
    for line in re.findall(r"^ENV (.+)$", final_stage, re.M):
        for pair in shlex.split(line):
            key, value = pair.split("=", 1)
            environment[key] = value
    return environment


def _unescaped(text: str) -> str:
    """``text`` as Compose passes it on: ``$$`` is a literal ``$``; a lone ``$`` would be
    replaced by a variable of the host running Compose, never what a container is meant to
    see in a command."""
    parts = text.split("$$")
    assert not any("$" in part for part in parts), f"Compose would interpolate {text!r}"
    return "$".join(parts)


def _run_in_replica(service: dict[str, Any], host_name: str, tmp_path: Path) -> list[str]:
    """Run the service's entrypoint and command with ``sh``, as the container would with host
    name ``host_name``, but with a stand-in for the program: returns the ``LOG_FILE`` it is
    given, then its arguments."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    program = bin_dir / service["command"][0]
    program.write_text('#!/bin/sh\nprintf \'%s\\n\' "$LOG_FILE" "$@"\n')
    program.chmod(0o755)
    argv = [_unescaped(arg) for arg in [*service.get("entrypoint", []), *service["command"]]]
    environment = {
        **_image_environment(),
        **service["environment"],
        # Docker gives each container its host name, in this variable too.
        "HOSTNAME": host_name,
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
    }
    result = subprocess.run(
        argv, env=environment, capture_output=True, text=True, timeout=10, check=True
    )
    return result.stdout.splitlines()


def _mount_source(service: dict[str, Any], target: str) -> str | None:
    mounts = {v.split(":")[1]: v.split(":")[0] for v in service.get("volumes", [])}
    return mounts.get(target)


def _api_settings(service: dict[str, Any]) -> Settings:
    args = jarvis_parser().parse_args(service["command"][1:])
    # The image has no config/jarvis.toml: only defaults, environment and options apply (an
    # empty config file stands for none; a missing one named by JARVIS_CONFIG is an error).
    environ = {**service["environment"], "JARVIS_CONFIG": os.devnull}
    return Settings.load(environ=environ, host=args.host, port=args.port)


def _shipper_settings(service: dict[str, Any]) -> ShipperSettings:
    # The image's LOG_FILE is in the shipper's environment too: what the service sets must win.
    environ = {**_image_environment(), **service["environment"]}
    return load_settings(service["command"][1:], environ)


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
    services = _services()
    api = services["jarvis-api"]
    settings = _api_settings(api)
    assert settings.host == "0.0.0.0"
    assert [int(port) for port in api["expose"]] == [settings.port]
    assert _healthcheck_port(api) == settings.port
    assert _scrape_targets()["jarvis-api"] == [f"jarvis-api:{settings.port}"]
    # Users still reach the API on the port they always did, through the proxy.
    assert f"{settings.port}:" in " ".join(services["jarvis-proxy"]["ports"])


def test_scaled_services_hold_nothing_two_replicas_would_claim() -> None:
    services = _services()
    for name, service in services.items():
        assert "container_name" not in service, f"{name}: a second replica would clash"
    for name in SCALED_SERVICES:
        service = services[name]
        assert "ports" not in service, f"{name}: reach it through jarvis-proxy"
        # The log file's name comes from the container's own host name.
        assert "hostname" not in service, name


def test_prometheus_discovers_every_api_replica() -> None:
    """A static target would resolve to one replica, a different one at each lookup."""
    job = _scrape_jobs()["jarvis-api"]
    assert "static_configs" not in job
    assert [(d["names"], d["type"]) for d in job["dns_sd_configs"]] == [(["jarvis-api"], "A")]
    assert "jarvis-shipper" in _scrape_jobs()


def test_each_replica_logs_to_a_file_of_its_own(tmp_path: Path) -> None:
    api = _services()["jarvis-api"]
    files = []
    for host in REPLICA_HOSTS:
        log_file, *arguments = _run_in_replica(api, host, tmp_path)
        assert arguments == api["command"][1:], "the entrypoint must pass the command on"
        settings = Settings.load(environ={"LOG_FILE": log_file, "JARVIS_CONFIG": os.devnull})
        files.append(Path(settings.log_file))
    assert len(set(files)) == len(REPLICA_HOSTS)
    assert {f.parent for f in files} == {Path("/app/logs")}
    assert _mount_source(api, "/app/logs") == "./logs"


def test_the_shipper_follows_every_replicas_file_and_its_backups(tmp_path: Path) -> None:
    """The files are laid out as in the shared folder, then found by the shipper's own rule."""
    services = _services()
    api, shipper = services["jarvis-api"], services["jarvis-shipper"]
    log_dir = PurePosixPath("/app/logs")
    assert _mount_source(shipper, str(log_dir)) == _mount_source(api, str(log_dir))
    pattern = PurePosixPath(_shipper_settings(shipper).path)
    folder = tmp_path / "logs"
    folder.mkdir()
    replica_files = []
    for host in REPLICA_HOSTS:
        name = PurePosixPath(_run_in_replica(api, host, tmp_path)[0])
        assert name.parent == log_dir
        live = folder / name.name
        live.write_text("{}\n")
        (folder / f"{name.name}.1").write_text("{}\n")
        (folder / f"{name.name}.2.gz").write_bytes(b"")
        replica_files.append(str(live))
    # The one file name of the versions before replicas.
    (folder / "jarvis.jsonl").write_text("{}\n")
    assert pattern.parent == log_dir
    live = live_paths(str(folder / pattern.name))
    assert live == sorted([*replica_files, str(folder / "jarvis.jsonl")])
    for path in replica_files:
        assert len(backups_of(path)) == 2, path


def test_redis_keeps_its_data_and_answers_its_health_check() -> None:
    services = _services()
    redis = services["redis"]
    assert re.fullmatch(r"redis:7[\w.-]*", redis["image"])
    assert "redis-cli ping" in " ".join(redis["healthcheck"]["test"])
    command = " ".join(redis["command"])
    assert "--appendonly yes" in command
    data = _mount_source(redis, "/data")
    assert data in _compose()["volumes"], "a named volume, kept across re-creation"
    url = urlsplit(services["jarvis-api"]["environment"]["REDIS_URL"])
    assert (url.scheme, url.hostname, url.port) == ("redis", "redis", 6379)
    assert "--port" not in command, "6379 is Redis's default port"


def test_services_start_once_what_they_need_is_healthy() -> None:
    services = _services()
    needs_healthy = {
        "jarvis-proxy": {"jarvis-api"},
        "jarvis-api": {"redis", "ollama"},
        "jarvis-shipper": {"elasticsearch"},
        "grafana": {"prometheus"},
    }
    for name, dependencies in needs_healthy.items():
        depends_on = services[name]["depends_on"]
        for dependency in dependencies:
            assert depends_on[dependency]["condition"] == "service_healthy", (name, dependency)
    order = {name: set(service.get("depends_on", {})) for name, service in services.items()}
    tuple(graphlib.TopologicalSorter(order).static_order())


def test_shipper_ports_and_state_match_its_settings() -> None:
    shipper = _services()["jarvis-shipper"]
    settings = _shipper_settings(shipper)
    assert settings.metrics_host == "0.0.0.0"
    assert _healthcheck_port(shipper) == settings.metrics_port
    assert _scrape_targets()["jarvis-shipper"] == [f"jarvis-shipper:{settings.metrics_port}"]
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
