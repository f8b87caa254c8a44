"""The choices of one ``jarvis dev`` run, and the addresses that follow from them."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from jarvis.dev.layout import DataDir

DEFAULT_DATA_DIR = Path(".jarvis-dev")


@dataclass(frozen=True)
class DevOptions:
    """The choices of one ``jarvis dev`` run (its command-line options)."""

    port: int = 8000
    es_port: int = 9200
    shipper_port: int = 9108
    prometheus_port: int = 9090
    data_dir: Path = DEFAULT_DATA_DIR
    llm: str = "echo"
    # A cluster to use instead of starting the development node (ELASTICSEARCH_URL).
    external_elasticsearch: str | None = None

    @property
    def data(self) -> DataDir:
        """The data directory, as an absolute path: the processes run elsewhere."""
        return DataDir(self.data_dir.resolve())

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def shipper_url(self) -> str:
        return f"http://127.0.0.1:{self.shipper_port}"

    @property
    def prometheus_url(self) -> str:
        return f"http://127.0.0.1:{self.prometheus_port}"

    @property
    def elasticsearch_url(self) -> str:
        """Where jarvis dev finds Elasticsearch: the node it starts, or the first node of an
        external cluster (the shipper reads all of them from ELASTICSEARCH_URL itself)."""
        if self.external_elasticsearch:
            return self.external_elasticsearch.split(",")[0].strip().rstrip("/")
        return f"http://127.0.0.1:{self.es_port}"

    @property
    def elasticsearch_shown(self) -> str:
        """``elasticsearch_url`` as it may be printed: without a user name or password."""
        parts = urlsplit(self.elasticsearch_url)
        if parts.username is None and parts.password is None:
            return self.elasticsearch_url
        host = parts.hostname or ""
        return parts._replace(netloc=f"{host}:{parts.port}" if parts.port else host).geturl()


def add_dev_command(commands: Any) -> None:
    """Add ``dev`` to the ``jarvis`` subcommands (``commands``: argparse's subparsers)."""
    defaults = DevOptions()
    dev = commands.add_parser(
        "dev",
        help="run the whole pipeline here: Elasticsearch, the server, the shipper, Prometheus",
        description="Start the development Elasticsearch node (or use ELASTICSEARCH_URL), "
        "jarvis serve, jarvis-shipper and, when installed, Prometheus with our rules, each "
        "once the previous is ready; Ctrl-C stops them all.",
    )
    dev.add_argument(
        "--port", type=int, default=defaults.port, help="the API's port (default %(default)s)"
    )
    dev.add_argument(
        "--es-port",
        type=int,
        default=defaults.es_port,
        help="Elasticsearch's port (default %(default)s; unused with ELASTICSEARCH_URL)",
    )
    dev.add_argument(
        "--shipper-port",
        type=int,
        default=defaults.shipper_port,
        help="the shipper's /metrics and /health (default %(default)s)",
    )
    dev.add_argument(
        "--prometheus-port",
        type=int,
        default=defaults.prometheus_port,
        help="Prometheus's port (default %(default)s)",
    )
    dev.add_argument(
        "--data-dir",
        type=Path,
        default=DEFAULT_DATA_DIR,
        help="logs, shipper state, Elasticsearch and Prometheus data, the memory database"
        " (default %(default)s/)",
    )
    dev.add_argument(
        "--llm",
        choices=("echo", "ollama"),
        default=defaults.llm,
        help="the model: echo (default, needs nothing) or ollama (OLLAMA_URL, OLLAMA_MODEL)",
    )
