"""The server's configuration: one typed, immutable object, read once at start-up.

Precedence, lowest to highest: the defaults below, the TOML config file
(``config/jarvis.toml`` or the file named by ``JARVIS_CONFIG``), environment
variables, then explicit overrides (command-line options).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from jarvis.config import (
    ByteSize,
    InvalidSetting,
    Resolved,
    SettingsError,
    env_field,
    resolve_config,
)
from jarvis.logline import LEVELS
from jarvis.logs.console import AUTO, LOG_FORMATS

DEFAULT_CONFIG_FILE = Path("config/jarvis.toml")
REDIS_SCHEMES = ("redis", "rediss", "unix")

__all__ = ["Settings", "SettingsError"]


@dataclass(frozen=True)
class Settings:
    host: str = env_field("JARVIS_HOST", default="127.0.0.1")
    port: int = env_field("JARVIS_PORT", default=8000)

    log_level: str = env_field("LOG_LEVEL", default="INFO")
    log_file: str = env_field("LOG_FILE", default="")
    log_stdout: bool = env_field("LOG_STDOUT", default=True)
    # Stdout's lines: json, console (for people) or auto (console on a terminal); LOG_FILE's
    # are always JSON.
    log_format: str = env_field("LOG_FORMAT", default=AUTO)
    # Chat texts are personal data: only their lengths are logged unless this is on.
    log_chat_content: bool = env_field("LOG_CHAT_CONTENT", default=False)
    log_queue_size: int = env_field("LOG_QUEUE_SIZE", default=10_000)

    prometheus_metrics: bool = env_field("PROMETHEUS_METRICS", default=True)
    request_id_header: str = env_field("REQUEST_ID_HEADER", default="X-Request-ID")

    llm_provider: str = env_field("JARVIS_LLM", default="ollama")
    ollama_url: str = env_field("OLLAMA_URL", default="http://127.0.0.1:11434")
    ollama_model: str = env_field("OLLAMA_MODEL", default="llama3.2")
    ollama_connect_timeout: float = env_field("OLLAMA_CONNECT_TIMEOUT", default=5.0)
    ollama_read_timeout: float = env_field("OLLAMA_READ_TIMEOUT", default=60.0)
    ollama_total_timeout: float = env_field("OLLAMA_TOTAL_TIMEOUT", default=120.0)

    memory_path: str = env_field("MEMORY_PATH", default="jarvis-memory.sqlite3")
    memory_max_turns: int = env_field("MEMORY_MAX_TURNS", default=20)

    rate_limit_enabled: bool = env_field("RATE_LIMIT_ENABLED", default=True)
    rate_limit_per_minute: float = env_field("RATE_LIMIT_PER_MINUTE", default=60.0)
    rate_limit_burst: int = env_field("RATE_LIMIT_BURST", default=20)
    rate_limit_max_clients: int = env_field("RATE_LIMIT_MAX_CLIENTS", default=100_000)
    # Every chat also pays its client address's bucket, this many times a user's rate and burst:
    # rotating user IDs from one address gets no further than that.
    rate_limit_address_factor: float = env_field("RATE_LIMIT_ADDRESS_FACTOR", default=4.0)
    # A client's refusals are logged at most once per window (all are counted).
    rate_limit_log_window: float = env_field("RATE_LIMIT_LOG_WINDOW", default=60.0)

    # Rate-limit buckets and conversation memory shared by every replica ("": in-process
    # buckets and the MEMORY_PATH file). redis://[:password@]host:port/db, rediss:// or unix://.
    redis_url: str = env_field("REDIS_URL", default="", repr=False)
    # How long one Redis command may take (connect included) before it counts as failed.
    redis_timeout: float = env_field("REDIS_TIMEOUT", default=1.0)

    # Reverse proxies in front of the server that append to X-Forwarded-For (0: none).
    trusted_proxy_hops: int = env_field("TRUSTED_PROXY_HOPS", default=0)

    max_body_bytes: ByteSize = env_field("MAX_BODY_BYTES", default=64 * 1024)
    max_message_chars: int = env_field("MAX_MESSAGE_CHARS", default=16_000)
    max_user_id_chars: int = env_field("MAX_USER_ID_CHARS", default=128)

    health_interval: float = env_field("HEALTH_INTERVAL", default=15.0)
    health_timeout: float = env_field("HEALTH_TIMEOUT", default=3.0)
    shutdown_timeout: float = env_field("SHUTDOWN_TIMEOUT", default=30.0)

    def __post_init__(self) -> None:
        if self.llm_provider not in ("ollama", "echo"):
            raise InvalidSetting("llm_provider", "must be 'ollama' or 'echo'")
        if self.log_level.upper() not in LEVELS:
            raise InvalidSetting("log_level", f"must be a logging level ({', '.join(LEVELS)})")
        if self.log_format.lower() not in LOG_FORMATS:
            raise InvalidSetting("log_format", "must be 'json', 'console' or 'auto'")
        if not 0 < self.port < 65536:
            raise InvalidSetting("port", "must be a TCP port, 1 to 65535")
        for name, lowest in _LOWEST.items():
            if getattr(self, name) < lowest:
                raise InvalidSetting(name, f"must be at least {lowest:g}")
        for name in _POSITIVE:
            if getattr(self, name) <= 0:
                raise InvalidSetting(name, "must be more than 0")
        if self.rate_limit_address_factor < 1:
            raise InvalidSetting(
                "rate_limit_address_factor",
                "must be at least 1: an address's budget covers at least one user's",
            )
        scheme = urlsplit(self.redis_url).scheme
        if self.redis_url and scheme not in REDIS_SCHEMES:
            raise InvalidSetting("redis_url", "must start with redis://, rediss:// or unix://")

    @classmethod
    def load(
        cls,
        config_file: str | Path | None = None,
        environ: Mapping[str, str] | None = None,
        **overrides: Any,
    ) -> Settings:
        """Build the settings from file, environment and overrides (``None`` ones ignored).

        The file is ``config_file`` (``--config``), else ``$JARVIS_CONFIG``, either of which
        must exist; else ``config/jarvis.toml`` when it exists.
        """
        return cls.resolve(config_file, environ, **overrides).settings

    @classmethod
    def resolve(
        cls,
        config_file: str | Path | None = None,
        environ: Mapping[str, str] | None = None,
        **overrides: Any,
    ) -> Resolved[Settings]:
        """What ``load`` builds, with where each value came from."""
        environ = os.environ if environ is None else environ
        named_by = "--config" if config_file else "JARVIS_CONFIG"
        return resolve_config(
            cls,
            section="server",
            config_file=config_file or environ.get("JARVIS_CONFIG") or None,
            default_file=DEFAULT_CONFIG_FILE,
            environ=environ,
            overrides=overrides,
            option_names=OPTION_NAMES,
            config_named_by=named_by,
        )


# The ``jarvis serve`` options that override settings, named in error messages.
OPTION_NAMES = {
    "host": "--host",
    "port": "--port",
    "log_level": "--log-level",
    "log_file": "--log-file",
    "llm_provider": "--llm",
}


# The least value each count or interval may take: below it the server would refuse every
# request, spin (a probe loop every 0 s), or read proxies' headers the wrong way round.
_LOWEST: dict[str, float] = {
    "max_body_bytes": 1,
    "max_message_chars": 1,
    "max_user_id_chars": 1,
    "rate_limit_burst": 1,
    "rate_limit_max_clients": 1,
    "log_queue_size": 1,
    "memory_max_turns": 1,
    "trusted_proxy_hops": 0,
    "health_interval": 0.05,
    "shutdown_timeout": 0,
}
# Rates and durations that must be above zero, however small.
_POSITIVE = ("rate_limit_per_minute", "rate_limit_log_window", "redis_timeout", "health_timeout")
