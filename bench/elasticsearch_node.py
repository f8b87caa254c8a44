"""The Elasticsearch the benchmarks measure against: ``ELASTICSEARCH_URL`` when set, else one
``docker/es-dev`` node started on first use (``tests/support/elasticsearch_node.py``) and shared
by every module of the run, stopped when the process exits."""

from __future__ import annotations

import atexit
import os
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

import orjson

_started: list[str] = []
_pids: list[int] = []


def elasticsearch_url() -> str:
    """The URL of the node to measure against, started now if needed."""
    if os.environ.get("ELASTICSEARCH_URL"):
        return os.environ["ELASTICSEARCH_URL"].split(",")[0].rstrip("/")
    if not _started:
        from tests.support.elasticsearch_node import ElasticsearchNode

        workdir = tempfile.TemporaryDirectory(prefix="bench-es-")
        node = ElasticsearchNode(Path(workdir.name) / "data")
        node.start()
        # Registered after the node started: atexit runs them in reverse, node first.
        atexit.register(workdir.cleanup)
        atexit.register(node.stop)
        _started.append(node.url)
        if node.pid is not None:
            _pids.append(node.pid)
    return _started[0]


def elasticsearch_pid() -> int | None:
    """The process of the node this run started; None for an ``ELASTICSEARCH_URL`` cluster."""
    return _pids[0] if _pids else None


def request(method: str, url: str, body: object = None) -> dict:
    """One blocking JSON request (set-up and clean-up between measurements, never timed)."""
    data = None if body is None else orjson.dumps(body)
    sent = urllib.request.Request(
        url, data=data, method=method, headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(sent, timeout=120) as response:
            answer = response.read()
    except urllib.error.HTTPError as error:
        if error.code == 404:
            return {}
        raise RuntimeError(f"{method} {url}: HTTP {error.code} {error.read()[:300]!r}") from None
    return orjson.loads(answer) if answer else {}


def delete_indices(url: str, pattern: str) -> None:
    """Delete the indices matching ``pattern`` (names, not a wildcard: a shared cluster may
    refuse wildcard deletes)."""
    found = request(
        "GET", f"{url}/{pattern}?expand_wildcards=all&filter_path=*.settings.index.uuid"
    )
    if found:
        request("DELETE", f"{url}/{','.join(found)}")
