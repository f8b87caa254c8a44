"""jarvis-shipper's configuration: one typed, immutable object, read once at start-up.

Loaded as the server's is (``jarvis.config``). Precedence, lowest to highest: the defaults
below; the config file (``--config``, else ``$SHIPPER_CONFIG``, else ``config/shipper.toml``
when it exists), its ``[shipper]`` section for these settings and its ``[elasticsearch]``
section for the cluster; environment variables (``SHIPPER_*``, ``LOG_FILE`` for the path,
``ELASTICSEARCH_*``); then command-line options.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import socket
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from jarvis.command_line import OneLineErrorParser
from jarvis.config import (
    ByteSize,
    InvalidSetting,
    SettingsError,
    env_field,
    load_config,
    size_text,
    variables_of,
)
from jarvis.logline import LEVELS
from jarvis.version import version_text
from shipper import elastic
from shipper.elastic import ElasticsearchSettings
from shipper.sink.dead_letter import DEFAULT_KEEP as DEAD_LETTER_KEEP
from shipper.sink.dead_letter import DEFAULT_MAX_BYTES as DEAD_LETTER_MAX_BYTES

DEFAULT_CONFIG_FILE = Path("config/shipper.toml")
MIB = 1024 * 1024

__all__ = ["SettingsError", "ShipperSettings", "load_settings"]


@dataclass(frozen=True)
class ShipperSettings:
    # The server's LOG_FILE names the file by default; SHIPPER_PATH, set too, wins over it.
    path: str = env_field("LOG_FILE", "SHIPPER_PATH", default="logs/jarvis.jsonl")
    # env_field builds a dataclasses.field, whatever ruff assumes of a call in a default.
    state_dir: Path = env_field("SHIPPER_STATE_DIR", default=Path("shipper-state"))
    dead_letter: Path | None = env_field("SHIPPER_DEAD_LETTER", default=None)
    dead_letter_max_bytes: ByteSize = env_field(
        "SHIPPER_DEAD_LETTER_MAX_BYTES", default=DEAD_LETTER_MAX_BYTES
    )
    dead_letter_keep: int = env_field("SHIPPER_DEAD_LETTER_KEEP", default=DEAD_LETTER_KEEP)
    max_line_bytes: ByteSize = env_field("SHIPPER_MAX_LINE_BYTES", default=MIB)
    rotate_size: ByteSize = env_field("SHIPPER_ROTATE_SIZE", default=100 * MIB)
    keep: int = env_field("SHIPPER_KEEP", default=10)
    batch_size: int = env_field("SHIPPER_BATCH_SIZE", default=2000)
    batch_bytes: ByteSize = env_field("SHIPPER_BATCH_BYTES", default=5 * MIB)
    flush_interval: float = env_field("SHIPPER_FLUSH_INTERVAL", default=1.0)
    poll_interval: float = env_field("SHIPPER_POLL_INTERVAL", default=0.25)
    close_inactive: float = env_field("SHIPPER_CLOSE_INACTIVE", default=5.0)
    read_chunk_bytes: ByteSize = env_field("SHIPPER_READ_CHUNK_BYTES", default=256 * 1024)
    queue_chunks: int = env_field("SHIPPER_QUEUE_CHUNKS", default=16)
    senders: int = env_field("SHIPPER_SENDERS", default=2)
    retry_initial: float = env_field("SHIPPER_RETRY_INITIAL", default=0.2)
    retry_max: float = env_field("SHIPPER_RETRY_MAX", default=30.0)
    # Below Docker's default 10 s stop grace period.
    shutdown_timeout: float = env_field("SHIPPER_SHUTDOWN_TIMEOUT", default=8.0)
    metrics_host: str = env_field("SHIPPER_METRICS_HOST", default="127.0.0.1")
    metrics_port: int = env_field("SHIPPER_METRICS_PORT", default=9108)
    host_name: str = env_field("SHIPPER_HOST_NAME", default_factory=socket.gethostname)
    log_level: str = env_field("SHIPPER_LOG_LEVEL", default="INFO")
    # While busy, a progress line this often (shipper/progress.py).
    progress_interval: float = env_field("SHIPPER_PROGRESS_INTERVAL", default=10.0)
    # Not a [shipper] key: read from [elasticsearch] and ELASTICSEARCH_*, as jarvis-logs does.
    elasticsearch: ElasticsearchSettings = field(default_factory=ElasticsearchSettings)

    def __post_init__(self) -> None:
        positive = (
            "max_line_bytes",
            "dead_letter_max_bytes",
            "rotate_size",
            "batch_size",
            "batch_bytes",
            "read_chunk_bytes",
            "queue_chunks",
            "flush_interval",
            "poll_interval",
            "retry_initial",
            "retry_max",
            "progress_interval",
        )
        for name in positive:
            if getattr(self, name) <= 0:
                raise InvalidSetting(name, "must be more than 0")
        for name in ("keep", "dead_letter_keep"):
            if getattr(self, name) < 0:
                raise InvalidSetting(name, "must be 0 or more")
        if self.senders < 1:
            raise InvalidSetting("senders", "must be at least 1")
        if not 0 <= self.metrics_port <= 65535:
            raise InvalidSetting("metrics_port", "must be a TCP port (0 picks a free one)")
        if self.log_level.upper() not in LEVELS:
            raise InvalidSetting("log_level", f"must be one of {', '.join(LEVELS)}")

    @property
    def dead_letter_path(self) -> Path:
        """Where events Elasticsearch will never accept are kept (default: in the state dir)."""
        return self.dead_letter or self.state_dir / "dead-letter.jsonl"

    @property
    def registry_path(self) -> Path:
        return self.state_dir / "registry.json"


_HELP = {
    "path": "log file or glob to ship",
    "state_dir": "registry of offsets lives here",
    "dead_letter": "JSONL file of rejected events (default: in the state dir)",
    "dead_letter_max_bytes": "rotate the dead-letter file at this size",
    "dead_letter_keep": "rotated dead-letter files kept",
    "max_line_bytes": "longer lines are cut at this size",
    "rotate_size": "rotate the live file at this size",
    "keep": "compressed backups kept",
    "batch_size": "events per bulk request",
    "batch_bytes": "largest bulk request",
    "flush_interval": "send a partial batch after this many seconds",
    "poll_interval": "look for new lines and files every this many seconds",
    "close_inactive": "let a rotated file go after this many quiet seconds",
    "read_chunk_bytes": "largest read from a file",
    "queue_chunks": "read chunks buffered",
    "senders": "concurrent bulk requests",
    "retry_initial": "first backoff after a failed bulk request, seconds",
    "retry_max": "longest backoff, seconds",
    "shutdown_timeout": "at a stop, flush for at most this many seconds",
    "metrics_host": "status server address",
    "metrics_port": "0 picks a free port",
    "host_name": "host.name of every event",
    "log_level": "level of the shipper's own logs",
    "progress_interval": "while busy, log progress every this many seconds",
}
# The command-line option of each setting, named in error messages.
OPTION_NAMES = {name: "--" + name.replace("_", "-") for name in _HELP}
_FIELDS = {f.name: f for f in dataclasses.fields(ShipperSettings)}
COMMANDS = ("run", "check")


def _variables(name: str) -> str:
    return variables_of(ShipperSettings, name)


def build_parser() -> argparse.ArgumentParser:
    """The command line of ``jarvis-shipper``; every option also has an environment variable."""
    parser = OneLineErrorParser(
        prog="jarvis-shipper",
        description="Tail the Jarvis JSONL logs, rotate them, and index them into Elasticsearch.",
    )
    parser.add_argument("--version", action="version", version=version_text("jarvis-shipper"))
    parser.add_argument(
        "command",
        nargs="?",
        choices=COMMANDS,
        default="run",
        help="run: ship until stopped (the default); check: test the configuration, "
        "Elasticsearch and the paths, one line each, then exit (0: all ok, 2: not)",
    )
    parser.add_argument(
        "--config",
        metavar="PATH",
        help="TOML file with [shipper] and [elasticsearch] sections "
        f"(default: {DEFAULT_CONFIG_FILE} when it exists) [SHIPPER_CONFIG]",
    )
    for name, text in _HELP.items():
        default = _FIELDS[name].default
        if _FIELDS[name].type in ("ByteSize", ByteSize):
            default = size_text(default)  # type: ignore[arg-type]
        shown = "" if default in (None, "", dataclasses.MISSING) else f" (default {default})"
        parser.add_argument(
            OPTION_NAMES[name], dest=name, help=f"{text}{shown} [{_variables(name)}]"
        )
    parser.epilog = (
        "Sizes take a unit: 100MB, 64KiB, 1G (KB/MB/GB powers of 1000, K/M/G and KiB/MiB/GiB"
        " of 1024). Every option can also be set by the variable in brackets, or in the"
        " config file."
    )
    parser.add_argument(
        elastic.URL_OPTION,
        dest="elasticsearch_url",
        metavar="URL",
        help="node URL, or several separated by commas [ELASTICSEARCH_URL]",
    )
    for alias in elastic.URL_OPTION_ALIASES:
        parser.add_argument(alias, dest="elasticsearch_url", help=argparse.SUPPRESS)
    return parser


def load_settings(
    argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None
) -> ShipperSettings:
    """Defaults < config file < environment < ``argv``; an invalid value raises SettingsError
    naming the option, variable or file key it came from."""
    return settings_from(build_parser().parse_args(argv), environ)


def settings_from(
    args: argparse.Namespace, environ: Mapping[str, str] | None = None
) -> ShipperSettings:
    """The settings, given the parsed command line (``load_settings``)."""
    env = os.environ if environ is None else environ
    config_file = args.config or env.get("SHIPPER_CONFIG") or None
    named_by = "--config" if args.config else "SHIPPER_CONFIG"
    elasticsearch = ElasticsearchSettings.load(
        config_file,
        env,
        default_file=DEFAULT_CONFIG_FILE,
        overrides={"url": args.elasticsearch_url},
        config_named_by=named_by,
    )
    settings = load_config(
        ShipperSettings,
        section="shipper",
        config_file=config_file,
        default_file=DEFAULT_CONFIG_FILE,
        environ=env,
        overrides={name: getattr(args, name) for name in _HELP},
        option_names=OPTION_NAMES,
        config_named_by=named_by,
    )
    # Absolute, so that ``log.file.path`` in Elasticsearch names the file unambiguously.
    path = os.path.abspath(settings.path)
    return dataclasses.replace(settings, path=path, elasticsearch=elasticsearch)
