"""What ``jarvis dev`` runs, in which order, and how each process is known to be ready.

Start order follows the dependencies: Elasticsearch (the shipper's sink), the server (it
writes the log file), the shipper (it tails that file into Elasticsearch), then Prometheus
(it scrapes the server and the shipper). ``STOP_ORDER`` is not the reverse: see its comment.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from dataclasses import dataclass, field

from jarvis.dev.layout import ES_DEV, DataDir
from jarvis.dev.options import DevOptions
from jarvis.dev.probes import Probe, answers, elasticsearch_healthy, shipper_caught_up
from jarvis.dev.prometheus_config import API_JOB, PROMETHEUS_JOB, SHIPPER_JOB

ELASTICSEARCH, API, SHIPPER, PROMETHEUS = "es", "api", "shipper", "prom"
# The server stops first, so that no line is written after the shipper's last read; the
# shipper next, once it has shipped every line the server wrote; Elasticsearch last, as the
# shipper needs it to the end. Prometheus only watches: it goes before Elasticsearch.
STOP_ORDER = (API, SHIPPER, PROMETHEUS, ELASTICSEARCH)


@dataclass(frozen=True)
class Service:
    """One process: how to start it, how to tell it is ready, how long it may take to stop."""

    name: str  # the prefix of its lines
    title: str  # what messages call it
    command: tuple[str, ...]
    ready: Probe
    ready_what: str  # what "ready" means, for the error when it never comes
    ready_timeout: float
    # At SIGTERM, how long it may take before it is killed.
    stop_timeout: float
    # The port it listens on, checked free before anything starts, and the option setting it.
    port: int
    port_option: str
    env: Mapping[str, str] = field(default_factory=dict)
    # Run to completion before the process starts (building the Elasticsearch node).
    prepare: tuple[str, ...] | None = None
    # The development node stops when its stdin closes: if jarvis dev dies, so does it.
    stdin_pipe: bool = False
    # Before it is stopped, wait (bounded) until this answers True (the shipper's backlog).
    drained: Probe | None = None


def plan_services(options: DevOptions, prometheus_binary: str | None) -> list[Service]:
    """The services of one run, in start order; without ``prometheus_binary``, no Prometheus,
    and with an external cluster no Elasticsearch node."""
    data = options.data
    services = []
    if not options.external_elasticsearch:
        services.append(_elasticsearch(options, data))
    services.append(_server(options, data))
    services.append(_shipper(options, data))
    if prometheus_binary is not None:
        services.append(_prometheus(options, data, prometheus_binary))
    return services


def prometheus_targets(options: DevOptions) -> dict[str, int]:
    """Prometheus's jobs and the loopback port of each."""
    return {
        API_JOB: options.port,
        SHIPPER_JOB: options.shipper_port,
        PROMETHEUS_JOB: options.prometheus_port,
    }


def _elasticsearch(options: DevOptions, data: DataDir) -> Service:
    url = options.elasticsearch_url
    return Service(
        name=ELASTICSEARCH,
        title="Elasticsearch",
        command=(
            "bash",
            str(ES_DEV / "run.sh"),
            "--port",
            str(options.es_port),
            "--data",
            str(data.elasticsearch),
            "--stop-on-stdin-eof",
        ),
        prepare=("bash", str(ES_DEV / "build.sh")),
        stdin_pipe=True,
        ready=elasticsearch_healthy(url),
        ready_what=f"cluster health yellow or green at {url}",
        # A cold JVM on a busy two-core machine; the node itself says when it gives up.
        ready_timeout=240.0,
        stop_timeout=60.0,
        port=options.es_port,
        port_option="--es-port",
    )


def _server(options: DevOptions, data: DataDir) -> Service:
    url = options.api_url
    return Service(
        name=API,
        title="jarvis serve",
        # sys.executable, not whatever `jarvis` PATH finds: the same interpreter and install.
        command=(
            sys.executable,
            "-m",
            "jarvis",
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(options.port),
            "--log-file",
            str(data.log_file),
            "--llm",
            options.llm,
        ),
        # JSON on its stdout whatever the user's LOG_FORMAT: jarvis dev renders it.
        env={"MEMORY_PATH": str(data.memory_db), "LOG_STDOUT": "true", "LOG_FORMAT": "json"},
        ready=answers(f"{url}/health"),
        ready_what=f"GET {url}/health answering",
        ready_timeout=60.0,
        # Above the server's default SHUTDOWN_TIMEOUT (30 s), which it honours itself.
        stop_timeout=45.0,
        port=options.port,
        port_option="--port",
    )


def _shipper(options: DevOptions, data: DataDir) -> Service:
    health = f"{options.shipper_url}/health"
    command = [
        sys.executable,
        "-m",
        "shipper",
        "--path",
        str(data.log_file),
        "--state-dir",
        str(data.shipper_state),
        "--metrics-host",
        "127.0.0.1",
        "--metrics-port",
        str(options.shipper_port),
    ]
    if not options.external_elasticsearch:
        # An external cluster is the shipper's own ELASTICSEARCH_* (credentials included).
        command += ["--elasticsearch-url", options.elasticsearch_url]
    return Service(
        name=SHIPPER,
        title="jarvis-shipper",
        command=tuple(command),
        ready=answers(health, statuses=(200,)),
        ready_what=f"GET {health} answering",
        ready_timeout=60.0,
        # Above its default --shutdown-timeout (8 s), within which it flushes by itself.
        stop_timeout=30.0,
        port=options.shipper_port,
        port_option="--shipper-port",
        drained=shipper_caught_up(health),
    )


def _prometheus(options: DevOptions, data: DataDir, binary: str) -> Service:
    url = options.prometheus_url
    return Service(
        name=PROMETHEUS,
        title="Prometheus",
        command=(
            binary,
            f"--config.file={data.prometheus_config}",
            f"--storage.tsdb.path={data.prometheus / 'data'}",
            f"--web.listen-address=127.0.0.1:{options.prometheus_port}",
            # Its start-up chatter at info level would bury the other processes' lines.
            "--log.level=warn",
        ),
        ready=answers(f"{url}/-/ready", statuses=(200,)),
        ready_what=f"GET {url}/-/ready answering 200",
        ready_timeout=60.0,
        stop_timeout=30.0,
        port=options.prometheus_port,
        port_option="--prometheus-port",
    )
