"""Where the logs live in Elasticsearch and how to reach it (jarvis-shipper and jarvis-logs)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit, urlunsplit

from jarvis.config import InvalidSetting, Resolved, env_field, resolve_config

if TYPE_CHECKING:
    from elasticsearch import AsyncElasticsearch

INDEX_PREFIX = "jarvis-logs-"
INDEX_PATTERN = INDEX_PREFIX + "*"
# One spelling of each option in every command (``--es-url`` is still accepted, unlisted).
URL_OPTION = "--elasticsearch-url"
URL_OPTION_ALIASES = ("--es-url",)
OPTION_NAMES = {"url": URL_OPTION}


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
    password: str = env_field("ELASTICSEARCH_PASSWORD", default="", secret=True)
    api_key: str = env_field("ELASTICSEARCH_API_KEY", default="", secret=True)
    ca_certs: str = env_field("ELASTICSEARCH_CA_CERTS", default="")
    verify_certs: bool = env_field("ELASTICSEARCH_VERIFY_CERTS", default=True)
    request_timeout: float = env_field("ELASTICSEARCH_TIMEOUT", default=30.0)

    def __post_init__(self) -> None:
        # What the client would refuse, or fail on, only once the shipper has started.
        for node in self.urls:
            if not _is_node_url(node):
                raise InvalidSetting(
                    "url",
                    "must be node URLs such as http://127.0.0.1:9200 (several separated by commas)",
                )
        if self.ca_certs:
            if not os.path.isfile(self.ca_certs):
                raise InvalidSetting("ca_certs", "must name a file of CA certificates (PEM)")
            if any(urlsplit(node).scheme != "https" for node in self.urls):
                raise InvalidSetting("ca_certs", "needs https:// node URLs")
        if self.request_timeout <= 0:
            raise InvalidSetting("request_timeout", "must be more than 0 seconds")

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
        config_named_by: str = "--config",
    ) -> ElasticsearchSettings:
        """Defaults < ``[elasticsearch]`` of the config file < environment < ``overrides``
        (``None`` ones ignored); an invalid value raises SettingsError naming it."""
        return cls.resolve(
            config_file,
            environ,
            default_file=default_file,
            overrides=overrides,
            config_named_by=config_named_by,
        ).settings

    @classmethod
    def resolve(
        cls,
        config_file: str | Path | None = None,
        environ: Mapping[str, str] | None = None,
        *,
        default_file: Path | None = None,
        overrides: Mapping[str, object] | None = None,
        config_named_by: str = "--config",
    ) -> Resolved[ElasticsearchSettings]:
        """What ``load`` builds, with where each value came from."""
        return resolve_config(
            cls,
            section="elasticsearch",
            config_file=config_file,
            default_file=default_file,
            environ=os.environ if environ is None else environ,
            overrides=overrides,
            option_names=OPTION_NAMES,
            config_named_by=config_named_by,
        )

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str] | None = None, **overrides: object
    ) -> ElasticsearchSettings:
        """Read ``ELASTICSEARCH_*`` variables, no config file; ``None`` overrides are ignored
        (``url`` is the ``--elasticsearch-url`` option)."""
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


def _is_node_url(node: str) -> bool:
    """``http(s)://host[:port][/path]``, the port (if any) a TCP port."""
    parts = urlsplit(node)
    try:
        parts.port  # noqa: B018 - parsed on access: a port out of range is a ValueError
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname)


def display_url(url: str) -> str:
    """``url`` without any user:password part, safe to print."""
    parts = urlsplit(url)
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit((parts.scheme, host, parts.path, "", ""))
