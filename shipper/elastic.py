"""Where the logs live in Elasticsearch and how to reach it (jarvis-shipper and jarvis-logs)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from elasticsearch import AsyncElasticsearch

INDEX_PREFIX = "jarvis-logs-"
INDEX_PATTERN = INDEX_PREFIX + "*"


def index_for(epoch_seconds: float) -> str:
    """The daily index of an event, from its own time in UTC (Logstash's ``%{+YYYY.MM.dd}``)."""
    return INDEX_PREFIX + datetime.fromtimestamp(epoch_seconds, UTC).strftime("%Y.%m.%d")


@dataclass(frozen=True)
class ElasticsearchSettings:
    url: str = "http://127.0.0.1:9200"
    username: str = ""
    password: str = ""
    api_key: str = ""
    ca_certs: str = ""
    verify_certs: bool = True
    request_timeout: float = 30.0

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str] | None = None, **overrides: object
    ) -> ElasticsearchSettings:
        """Read ``ELASTICSEARCH_*`` variables; ``None`` overrides are ignored."""
        env = os.environ if environ is None else environ
        values: dict[str, object] = {}
        for name, var in (
            ("url", "ELASTICSEARCH_URL"),
            ("username", "ELASTICSEARCH_USERNAME"),
            ("password", "ELASTICSEARCH_PASSWORD"),
            ("api_key", "ELASTICSEARCH_API_KEY"),
            ("ca_certs", "ELASTICSEARCH_CA_CERTS"),
        ):
            if env.get(var):
                values[name] = env[var]
        if env.get("ELASTICSEARCH_VERIFY_CERTS"):
            values["verify_certs"] = env["ELASTICSEARCH_VERIFY_CERTS"].lower() not in (
                "0",
                "false",
                "no",
            )
        if env.get("ELASTICSEARCH_TIMEOUT"):
            values["request_timeout"] = float(env["ELASTICSEARCH_TIMEOUT"])
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)  # type: ignore[arg-type]

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
        return AsyncElasticsearch(self.url, **options)  # type: ignore[arg-type]

    def __repr__(self) -> str:
        # Keep secrets out of logs and tracebacks.
        auth = "yes" if self.username or self.api_key else "no"
        return f"ElasticsearchSettings(url={self.url!r}, auth={auth})"
