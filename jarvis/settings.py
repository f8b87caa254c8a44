"""The server's configuration: one typed, immutable object, read once at start-up.

Precedence, lowest to highest: the defaults below, the TOML config file
(``config/jarvis.toml`` or the file named by ``JARVIS_CONFIG``), environment
variables, then explicit overrides (command-line options).
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DEFAULT_CONFIG_FILE = Path("config/jarvis.toml")


class SettingsError(ValueError):
    """A configuration value that cannot be used; the message names the setting."""


def _env(name: str) -> dict[str, str]:
    return {"env": name}


@dataclass(frozen=True)
class Settings:
    host: str = field(default="127.0.0.1", metadata=_env("JARVIS_HOST"))
    port: int = field(default=8000, metadata=_env("JARVIS_PORT"))

    log_level: str = field(default="INFO", metadata=_env("LOG_LEVEL"))
    log_file: str = field(default="", metadata=_env("LOG_FILE"))
    log_stdout: bool = field(default=True, metadata=_env("LOG_STDOUT"))
    # Chat texts are personal data: only their lengths are logged unless this is on.
    log_chat_content: bool = field(default=False, metadata=_env("LOG_CHAT_CONTENT"))
    log_queue_size: int = field(default=10_000, metadata=_env("LOG_QUEUE_SIZE"))

    prometheus_metrics: bool = field(default=True, metadata=_env("PROMETHEUS_METRICS"))
    request_id_header: str = field(default="X-Request-ID", metadata=_env("REQUEST_ID_HEADER"))

    llm_provider: str = field(default="ollama", metadata=_env("JARVIS_LLM"))
    ollama_url: str = field(default="http://127.0.0.1:11434", metadata=_env("OLLAMA_URL"))
    ollama_model: str = field(default="llama3.2", metadata=_env("OLLAMA_MODEL"))
    ollama_connect_timeout: float = field(default=5.0, metadata=_env("OLLAMA_CONNECT_TIMEOUT"))
    ollama_read_timeout: float = field(default=60.0, metadata=_env("OLLAMA_READ_TIMEOUT"))
    ollama_total_timeout: float = field(default=120.0, metadata=_env("OLLAMA_TOTAL_TIMEOUT"))

    memory_path: str = field(default="jarvis-memory.sqlite3", metadata=_env("MEMORY_PATH"))
    memory_max_turns: int = field(default=20, metadata=_env("MEMORY_MAX_TURNS"))

    rate_limit_enabled: bool = field(default=True, metadata=_env("RATE_LIMIT_ENABLED"))
    rate_limit_per_minute: float = field(default=60.0, metadata=_env("RATE_LIMIT_PER_MINUTE"))
    rate_limit_burst: int = field(default=20, metadata=_env("RATE_LIMIT_BURST"))
    rate_limit_max_clients: int = field(default=100_000, metadata=_env("RATE_LIMIT_MAX_CLIENTS"))

    # Reverse proxies in front of the server that append to X-Forwarded-For (0: none).
    trusted_proxy_hops: int = field(default=0, metadata=_env("TRUSTED_PROXY_HOPS"))

    max_body_bytes: int = field(default=64 * 1024, metadata=_env("MAX_BODY_BYTES"))
    max_message_chars: int = field(default=16_000, metadata=_env("MAX_MESSAGE_CHARS"))
    max_user_id_chars: int = field(default=128, metadata=_env("MAX_USER_ID_CHARS"))

    health_interval: float = field(default=15.0, metadata=_env("HEALTH_INTERVAL"))
    health_timeout: float = field(default=3.0, metadata=_env("HEALTH_TIMEOUT"))
    shutdown_timeout: float = field(default=30.0, metadata=_env("SHUTDOWN_TIMEOUT"))

    def __post_init__(self) -> None:
        if self.llm_provider not in ("ollama", "echo"):
            raise SettingsError(f"JARVIS_LLM must be 'ollama' or 'echo', not {self.llm_provider!r}")
        if self.log_level.upper() not in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"):
            raise SettingsError(f"LOG_LEVEL {self.log_level!r} is not a logging level")
        if not 0 < self.port < 65536:
            raise SettingsError(f"JARVIS_PORT {self.port} is not a TCP port")
        for name in ("max_body_bytes", "rate_limit_burst", "log_queue_size", "max_message_chars"):
            if getattr(self, name) <= 0:
                raise SettingsError(f"{name} must be positive")
        if self.rate_limit_per_minute <= 0:
            raise SettingsError("rate_limit_per_minute must be positive")

    @classmethod
    def load(
        cls,
        config_file: str | Path | None = None,
        environ: Mapping[str, str] | None = None,
        **overrides: Any,
    ) -> Settings:
        """Build the settings from file, environment and overrides (``None`` ones ignored)."""
        environ = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        path = Path(config_file or environ.get("JARVIS_CONFIG") or DEFAULT_CONFIG_FILE)
        if path.is_file():
            values.update(_read_toml(path, cls))
        elif config_file is not None:
            raise SettingsError(f"config file {path} does not exist")
        for f in dataclasses.fields(cls):
            raw = environ.get(f.metadata["env"])
            if raw is not None:
                values[f.name] = _coerce(f, raw)
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)


def _read_toml(path: Path, cls: type[Settings]) -> dict[str, Any]:
    with path.open("rb") as fh:
        data = tomllib.load(fh)
    section = data.get("server", data)
    known = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(section) - set(known))
    if unknown:
        raise SettingsError(f"{path}: unknown settings {', '.join(unknown)}")
    return {name: _coerce(known[name], value) for name, value in section.items()}


_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def _coerce(f: dataclasses.Field[Any], raw: Any) -> Any:
    kind = (
        f.type
        if isinstance(f.type, type)
        else {"int": int, "float": float, "bool": bool}.get(str(f.type), str)
    )
    try:
        if kind is bool:
            if isinstance(raw, bool):
                return raw
            text = str(raw).strip().lower()
            if text in _TRUE:
                return True
            if text in _FALSE:
                return False
            raise ValueError(raw)
        return kind(raw)
    except (TypeError, ValueError):
        raise SettingsError(
            f"{f.metadata['env']} ({f.name}) expects {kind.__name__}, got {raw!r}"
        ) from None
