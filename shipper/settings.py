"""jarvis-shipper's configuration: one typed, immutable object, read once at start-up.

Precedence, lowest to highest: the defaults below, environment variables
(``SHIPPER_*``, ``LOG_FILE`` for the path, ``ELASTICSEARCH_*`` for the cluster), then
command-line options.
"""

from __future__ import annotations

import argparse
import os
import socket
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from shipper.elastic import ElasticsearchSettings

MIB = 1024 * 1024


@dataclass(frozen=True)
class ShipperSettings:
    path: str = "logs/jarvis.jsonl"
    state_dir: Path = Path("shipper-state")
    dead_letter: Path | None = None
    max_line_bytes: int = MIB
    rotate_size: int = 100 * MIB
    keep: int = 10
    batch_size: int = 2000
    batch_bytes: int = 5 * MIB
    flush_interval: float = 1.0
    poll_interval: float = 0.25
    close_inactive: float = 5.0
    read_chunk_bytes: int = 256 * 1024
    queue_chunks: int = 16
    senders: int = 2
    retry_initial: float = 0.2
    retry_max: float = 30.0
    # Below Docker's default 10 s stop grace period.
    shutdown_timeout: float = 8.0
    metrics_host: str = "127.0.0.1"
    metrics_port: int = 9108
    host_name: str = field(default_factory=socket.gethostname)
    log_level: str = "INFO"
    elasticsearch: ElasticsearchSettings = field(default_factory=ElasticsearchSettings)

    @property
    def dead_letter_path(self) -> Path:
        """Where events Elasticsearch will never accept are kept (default: in the state dir)."""
        return self.dead_letter or self.state_dir / "dead-letter.jsonl"

    @property
    def registry_path(self) -> Path:
        return self.state_dir / "registry.json"


# (field, environment variable, command-line option, type, help)
_OPTIONS: tuple[tuple[str, str, str, type, str], ...] = (
    ("path", "SHIPPER_PATH", "--path", str, "log file or glob to ship (default $LOG_FILE)"),
    ("state_dir", "SHIPPER_STATE_DIR", "--state-dir", Path, "registry of offsets lives here"),
    ("dead_letter", "SHIPPER_DEAD_LETTER", "--dead-letter", Path, "JSONL file of rejected events"),
    ("max_line_bytes", "SHIPPER_MAX_LINE_BYTES", "--max-line-bytes", int, "longer lines are cut"),
    ("rotate_size", "SHIPPER_ROTATE_SIZE", "--rotate-size", int, "rotate the live file at"),
    ("keep", "SHIPPER_KEEP", "--keep", int, "compressed backups kept"),
    ("batch_size", "SHIPPER_BATCH_SIZE", "--batch-size", int, "events per bulk request"),
    ("batch_bytes", "SHIPPER_BATCH_BYTES", "--batch-bytes", int, "bytes per bulk request"),
    ("flush_interval", "SHIPPER_FLUSH_INTERVAL", "--flush-interval", float, "seconds"),
    ("poll_interval", "SHIPPER_POLL_INTERVAL", "--poll-interval", float, "seconds"),
    ("close_inactive", "SHIPPER_CLOSE_INACTIVE", "--close-inactive", float, "seconds"),
    ("read_chunk_bytes", "SHIPPER_READ_CHUNK_BYTES", "--read-chunk-bytes", int, "bytes per read"),
    ("queue_chunks", "SHIPPER_QUEUE_CHUNKS", "--queue-chunks", int, "read chunks buffered"),
    ("senders", "SHIPPER_SENDERS", "--senders", int, "concurrent bulk requests"),
    ("retry_initial", "SHIPPER_RETRY_INITIAL", "--retry-initial", float, "first backoff, s"),
    ("retry_max", "SHIPPER_RETRY_MAX", "--retry-max", float, "longest backoff, s"),
    ("shutdown_timeout", "SHIPPER_SHUTDOWN_TIMEOUT", "--shutdown-timeout", float, "seconds"),
    ("metrics_host", "SHIPPER_METRICS_HOST", "--metrics-host", str, "status server address"),
    ("metrics_port", "SHIPPER_METRICS_PORT", "--metrics-port", int, "0 picks a free port"),
    ("host_name", "SHIPPER_HOST_NAME", "--host-name", str, "host.name of every event"),
    ("log_level", "SHIPPER_LOG_LEVEL", "--log-level", str, "level of the shipper's own logs"),
)


def build_parser() -> argparse.ArgumentParser:
    """The command line of ``jarvis-shipper``; every option also has an environment variable."""
    parser = argparse.ArgumentParser(
        prog="jarvis-shipper",
        description="Tail the Jarvis JSONL logs, rotate them, and index them into Elasticsearch.",
    )
    for name, env, option, kind, text in _OPTIONS:
        parser.add_argument(option, dest=name, type=kind, default=None, help=f"{text} [{env}]")
    parser.add_argument(
        "--elasticsearch-url", dest="es_url", default=None, help="[ELASTICSEARCH_URL]"
    )
    return parser


def load_settings(
    argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None
) -> ShipperSettings:
    """Defaults, overridden by the environment, overridden by ``argv``; invalid values raise."""
    env = os.environ if environ is None else environ
    args = build_parser().parse_args(argv)
    values: dict[str, object] = {}
    if env.get("LOG_FILE"):
        values["path"] = env["LOG_FILE"]
    for name, var, _option, kind, _text in _OPTIONS:
        if env.get(var):
            try:
                values[name] = kind(env[var])
            except ValueError as error:
                raise ValueError(f"{var}={env[var]!r} is not a valid {kind.__name__}") from error
    for name, *_rest in _OPTIONS:
        if getattr(args, name) is not None:
            values[name] = getattr(args, name)
    # Absolute, so that ``log.file.path`` in Elasticsearch names the file unambiguously.
    values["path"] = os.path.abspath(str(values.get("path", ShipperSettings.path)))
    values["elasticsearch"] = ElasticsearchSettings.from_env(env, url=args.es_url)
    settings = ShipperSettings(**values)  # type: ignore[arg-type]
    _validate(settings)
    return settings


def _validate(settings: ShipperSettings) -> None:
    positive = (
        "max_line_bytes",
        "rotate_size",
        "batch_size",
        "batch_bytes",
        "read_chunk_bytes",
        "queue_chunks",
    )
    for name in positive:
        if getattr(settings, name) <= 0:
            raise ValueError(f"{name} must be positive")
    if settings.keep < 0:
        raise ValueError("keep must be zero or more")
    if settings.senders < 1:
        raise ValueError("senders must be at least 1")
    for name in ("flush_interval", "poll_interval", "retry_initial", "retry_max"):
        if getattr(settings, name) <= 0:
            raise ValueError(f"{name} must be positive")
