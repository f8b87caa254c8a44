"""Where the logs live in Elasticsearch and how to reach it (jarvis-shipper and jarvis-logs)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit, urlunsplit

from jarvis.config import SettingsError, env_field, load_config

if TYPE_CHECKING:
    from elasticsearch import AsyncElasticsearch

INDEX_PREFIX = "jarvis-logs-"
INDEX_PATTERN = INDEX_PREFIX + "*"


def index_for(epoch_seconds: float) -> str:
    """The daily index of an event, from its own time in UTC (Logstash's ``%{+YYYY.MM.dd}``)."""
    return INDEX_PREFIX + datetime.fromtimestamp(epoch_seconds, UTC).strftime("%Y.%m.%d")


@dataclass(frozen=True, kw_only=True)
class ElasticsearchSettings:
    """How to reach the cluster: the ``[elasticsearch]`` section of a config file, then the
    ``ELASTICSEARCH_*`` variables, then options."""

    # One node, or several separated by commas: requests go round the live ones.
    url: str = env_field("ELASTICSEARCH_URL", default="http://127.0.0.1:9200")
    username: str = env_field("ELASTICSEARCH_USERNAME", default="")
    password: str = env_field("ELASTICSEARCH_PASSWORD", default="")
    api_key: str = env_field("ELASTICSEARCH_API_KEY", default="")
    ca_certs: str = env_field("ELASTICSEARCH_CA_CERTS", default="")
    verify_certs: bool = env_field("ELASTICSEARCH_VERIFY_CERTS", default=True)
    request_timeout: float = env_field("ELASTICSEARCH_TIMEOUT", default=30.0)

    def __post_init__(self) -> None:
        for node in self.urls:
            parts = urlsplit(node)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise SettingsError(
                    f"ELASTICSEARCH_URL: {display_url(node)!r} is not a node URL such as "
                    "http://127.0.0.1:9200 (several are separated by commas)"
                )

    @property
    def urls(self) -> list[str]:
        """The nodes to send requests to."""
        return [node.strip() for node in self.url.split(",") if node.strip()] or [""]

    @property
    def shown_url(self) -> str:
        """The nodes without any user:password part, safe to print."""
        return ",".join(display_url(node) for node in self.urls)

    @classmethod
    def load(
        cls,
        config_file: str | Path | None = None,
        environ: Mapping[str, str] | None = None,
        *,
        default_file: Path | None = None,
        overrides: Mapping[str, object] | None = None,
        option_names: Mapping[str, str] | None = None,
    ) -> ElasticsearchSettings:
        """Defaults < ``[elasticsearch]`` of the config file < environment < ``overrides``
        (``None`` ones ignored); an invalid value raises SettingsError naming it."""
        return load_config(
            cls,
            section="elasticsearch",
            config_file=config_file,
            default_file=default_file,
            environ=os.environ if environ is None else environ,
            overrides=overrides,
            option_names=option_names,
        )

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str] | None = None, **overrides: object
    ) -> ElasticsearchSettings:
        """Read ``ELASTICSEARCH_*`` variables, no config file; ``None`` overrides are ignored."""
        return cls.load(None, environ, overrides=overrides)

    def create_client(self, **kwargs: object) -> AsyncElasticsearch:
        """A client for this cluster; credentials are passed to it, never logged."""
        # Imported here: it costs ~0.4 s, which `jarvis-logs --source files` never needs.
        from elasticsearch import AsyncElasticsearch

        options: dict[str, object] = {"request_timeout": self.request_timeout}
        if self.api_key:
            options["api_key"] = self.api_key
        elif self.username:
            options["basic_auth"] = (self.username, self.password)
        if self.ca_certs:
            options["ca_certs"] = self.ca_certs
        if not self.verify_certs:
            options["verify_certs"] = False
        options.update(kwargs)
        return AsyncElasticsearch(self.urls, **options)  # type: ignore[arg-type]

    def __repr__(self) -> str:
        # Keep secrets out of logs and tracebacks.
        auth = "yes" if self.username or self.api_key else "no"
        return f"ElasticsearchSettings(url={self.shown_url!r}, auth={auth})"


def display_url(url: str) -> str:
    """``url`` without any user:password part, safe to print."""
    parts = urlsplit(url)
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit((parts.scheme, host, parts.path, "", ""))
