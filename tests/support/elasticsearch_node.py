"""A real Elasticsearch node for tests and benchmarks (``docker/es-dev``), and its pytest fixtures.

``ElasticsearchNode`` runs the node as a child process on a loopback port with its data in a
directory of its own; it can be stopped and started again on the same port and data, as the
shipper's outage tests need. It works from a plain script too::

    with ElasticsearchNode(Path("/tmp/es")) as node:
        print(node.url)

Fixtures: ``elasticsearch_node`` (one node for the session, or the cluster at
``ELASTICSEARCH_URL`` when that is set), ``es_url`` and ``es_client`` (a fresh
``AsyncElasticsearch`` per test, with the ``jarvis-logs`` indices and templates wiped before and
after it).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from types import TracebackType
from typing import Protocol

import pytest
import pytest_asyncio
from elasticsearch import AsyncElasticsearch

ES_DEV = Path(__file__).resolve().parents[2] / "docker" / "es-dev"
READY_PREFIX = "ELASTICSEARCH READY "
INDEX_PATTERN = "jarvis-logs-*"
TEMPLATE_PATTERN = "jarvis-logs*"


class ElasticsearchNodeError(RuntimeError):
    """The node could not be built, started or stopped; the message quotes its log."""


def free_port() -> int:
    """A loopback port that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ElasticsearchNode:
    """One single-node cluster from ``docker/es-dev``: real Elasticsearch, on 127.0.0.1.

    The port is chosen once (free at construction unless given) and kept across restarts, so a
    client or shipper configured with ``url`` finds the node again after ``start()``.
    """

    can_restart = True

    def __init__(
        self,
        data_dir: Path,
        port: int | None = None,
        *,
        heap: str = "1g",
        startup_timeout: float = 180.0,
        cluster_options: tuple[str, ...] = (),
        wait_for_status: str | None = "yellow",
    ) -> None:
        self.data_dir = data_dir.resolve()
        # --node-name/--transport-port/--seed-hosts...: this node is one of a cluster.
        self.cluster_options = cluster_options
        self.wait_for_status = wait_for_status
        self.port = port if port is not None else free_port()
        self.heap = heap
        self.startup_timeout = startup_timeout
        self.log_path = self.data_dir / "logs" / "console.log"
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    @property
    def pid(self) -> int | None:
        """The node's process (its JVM), while it runs."""
        return self._process.pid if self.running and self._process is not None else None

    def start(self) -> None:
        """Start the node (a no-op if it runs) and return once it serves requests and every
        primary shard of the data already on disk is back (cluster health yellow or green)."""
        if self.running:
            return
        ensure_built()
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log_offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        with self.log_path.open("ab") as log:
            self._process = subprocess.Popen(
                [
                    "bash",
                    str(ES_DEV / "run.sh"),
                    "--port",
                    str(self.port),
                    "--data",
                    str(self.data_dir),
                    "--stop-on-stdin-eof",
                    *self.cluster_options,
                ],
                # The node watches this pipe: if this process dies, the node stops with it.
                stdin=subprocess.PIPE,
                stdout=log,
                stderr=log,
                env={**os.environ, "ES_DEV_HEAP": self.heap},
                # Ctrl-C on the test run must not kill the node before the fixture stops it.
                start_new_session=True,
            )
        deadline = time.monotonic() + self.startup_timeout
        self._wait_for_ready_line(log_offset, deadline)
        if self.wait_for_status is not None:
            self._wait_for_health(self.wait_for_status, deadline)

    def stop(self, timeout: float = 60.0) -> None:
        """Stop the node cleanly (SIGTERM: data is flushed to disk) and wait until it exits."""
        process = self._process
        if process is None:
            return
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
                self._close(process)
                problem = f"Elasticsearch ignored SIGTERM for {timeout}s and was killed"
                raise ElasticsearchNodeError(f"{problem}\n{self.log_tail()}") from None
        self._close(process)

    def kill(self) -> None:
        """Kill the node at once (SIGKILL), as a crash would."""
        process = self._process
        if process is None:
            return
        if process.poll() is None:
            process.kill()
            process.wait()
        self._close(process)

    async def astart(self) -> None:
        """``start()`` without blocking the running event loop."""
        await asyncio.to_thread(self.start)

    async def astop(self) -> None:
        """``stop()`` without blocking the running event loop."""
        await asyncio.to_thread(self.stop)

    def log_tail(self, size: int = 4000) -> str:
        """The end of the node's console log, to quote in failures."""
        if not self.log_path.exists():
            return "(no log)"
        with self.log_path.open("rb") as log:
            log.seek(max(0, self.log_path.stat().st_size - size))
            return log.read().decode(errors="replace")

    def __enter__(self) -> ElasticsearchNode:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def _close(self, process: subprocess.Popen[bytes]) -> None:
        if process.stdin is not None:
            process.stdin.close()
        self._process = None

    def _wait_for_ready_line(self, log_offset: int, deadline: float) -> None:
        expected = READY_PREFIX + self.url
        with self.log_path.open("rb") as log:
            log.seek(log_offset)
            pending = b""
            while time.monotonic() < deadline:
                pending += log.read()
                lines = pending.split(b"\n")
                pending = lines.pop()
                if any(line.decode(errors="replace").strip() == expected for line in lines):
                    return
                if not self.running:
                    self._fail("exited before it was ready")
                time.sleep(0.1)
        self._fail(f"was not ready within {self.startup_timeout}s")

    def _wait_for_health(self, status: str, deadline: float) -> None:
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self._fail(f"did not reach {status} health in time")
            query = f"wait_for_status={status}&timeout={max(1, int(remaining))}s"
            try:
                with urllib.request.urlopen(
                    f"{self.url}/_cluster/health?{query}", timeout=remaining + 5
                ) as response:
                    if response.status == 200:
                        return
            except urllib.error.HTTPError as error:
                # 408: health still red when the server-side wait ran out; ask again.
                if error.code != 408:
                    self._fail(f"answered {error.code} to _cluster/health")
            except OSError:
                if not self.running:
                    self._fail("exited before it was healthy")
                time.sleep(0.2)

    def _fail(self, problem: str) -> None:
        self.kill()
        raise ElasticsearchNodeError(f"Elasticsearch {problem}\n{self.log_tail()}")


class ElasticsearchCluster:
    """``size`` nodes of ``docker/es-dev`` forming one cluster on loopback; each node can be
    killed and started again on its own ports and data, as a node crash would."""

    def __init__(self, data_dir: Path, size: int = 3, *, heap: str = "512m") -> None:
        http_ports = [free_port() for _ in range(size)]
        transport_ports = [free_port() for _ in range(size)]
        seeds = ",".join(f"127.0.0.1:{port}" for port in transport_ports)
        names = [f"node-{i}" for i in range(size)]
        self.nodes = [
            ElasticsearchNode(
                data_dir / name,
                http_ports[i],
                heap=heap,
                # A lone node of a cluster has no master until others join: the cluster
                # waits for its health, not each node.
                wait_for_status=None,
                cluster_options=(
                    "--node-name",
                    name,
                    "--transport-port",
                    str(transport_ports[i]),
                    "--seed-hosts",
                    seeds,
                    "--initial-master-nodes",
                    ",".join(names),
                ),
            )
            for i, name in enumerate(names)
        ]

    @property
    def url(self) -> str:
        """Every node, comma-separated, as ``ELASTICSEARCH_URL`` takes them."""
        return ",".join(node.url for node in self.nodes)

    def start(self) -> None:
        """Start every node at once (they elect a master together), then wait for green."""
        with concurrent.futures.ThreadPoolExecutor(len(self.nodes)) as pool:
            for started in [pool.submit(node.start) for node in self.nodes]:
                started.result()
        self.wait_for_health("green", len(self.nodes))

    def wait_for_health(self, status: str, nodes: int, timeout: float = 120.0) -> None:
        """Wait until the live nodes report ``status`` with ``nodes`` nodes in the cluster."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for node in self.nodes:
                if not node.running:
                    continue
                query = f"wait_for_status={status}&wait_for_nodes={nodes}&timeout=5s"
                try:
                    with urllib.request.urlopen(
                        f"{node.url}/_cluster/health?{query}", timeout=10
                    ) as response:
                        if response.status == 200:
                            return
                except OSError:
                    continue
            time.sleep(0.5)
        raise ElasticsearchNodeError(f"cluster not {status} with {nodes} nodes in {timeout}s")

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()

    def __enter__(self) -> ElasticsearchCluster:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def ensure_built() -> None:
    """Build ``docker/es-dev`` if it has not been built on this machine (``.ci/setup`` does)."""
    if (ES_DEV / "target" / "classpath.txt").is_file():
        return
    result = subprocess.run(
        ["bash", str(ES_DEV / "build.sh")], capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise ElasticsearchNodeError(
            f"docker/es-dev/build.sh failed:\n{result.stdout[-3000:]}{result.stderr[-3000:]}"
        )


class ExternalElasticsearch:
    """The cluster at ``ELASTICSEARCH_URL``: used as is, never started or stopped here."""

    can_restart = False

    def __init__(self, url: str) -> None:
        self.url = url.rstrip("/")

    def start(self) -> None:
        self._skip()

    def stop(self) -> None:
        self._skip()

    def kill(self) -> None:
        self._skip()

    async def astart(self) -> None:
        self._skip()

    async def astop(self) -> None:
        self._skip()

    def _skip(self) -> None:
        pytest.skip("restarts Elasticsearch, but ELASTICSEARCH_URL points at a cluster to keep")


class Cluster(Protocol):
    """What tests may do with the ``elasticsearch_node`` fixture."""

    can_restart: bool

    @property
    def url(self) -> str: ...

    def start(self) -> None: ...

    def stop(self) -> None: ...

    def kill(self) -> None: ...

    async def astart(self) -> None: ...

    async def astop(self) -> None: ...


@pytest.fixture(scope="session")
def elasticsearch_node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """The session's Elasticsearch: ``ELASTICSEARCH_URL`` if set, else a node started here.

    Tests may ``stop()``/``kill()`` and ``start()`` it (they are skipped against an external
    cluster); ``es_client`` restarts it if a test left it down.
    """
    external = os.environ.get("ELASTICSEARCH_URL")
    if external:
        yield ExternalElasticsearch(external)
        return
    node = ElasticsearchNode(tmp_path_factory.mktemp("elasticsearch"))
    node.start()
    try:
        yield node
    finally:
        node.stop()


@pytest.fixture(scope="session")
def es_url(elasticsearch_node: Cluster) -> str:
    """Base URL of the session's Elasticsearch, e.g. ``http://127.0.0.1:PORT``."""
    return elasticsearch_node.url


@pytest_asyncio.fixture
async def es_client(elasticsearch_node: Cluster) -> AsyncIterator[AsyncElasticsearch]:
    """A client on a clean cluster: no ``jarvis-logs-*`` index nor ``jarvis-logs*`` template."""
    if isinstance(elasticsearch_node, ElasticsearchNode) and not elasticsearch_node.running:
        await elasticsearch_node.astart()
    client = AsyncElasticsearch(elasticsearch_node.url, request_timeout=60)
    try:
        await wipe_jarvis_logs(client)
        yield client
        await wipe_jarvis_logs(client)
    finally:
        await client.close()


async def wipe_jarvis_logs(client: AsyncElasticsearch) -> None:
    """Delete every ``jarvis-logs-*`` index (open or closed) and ``jarvis-logs*`` template."""
    found = await client.indices.get(index=INDEX_PATTERN, expand_wildcards="all")
    # Names, not a wildcard: a shared cluster may refuse wildcard deletes.
    names = list(found.body)
    if names:
        await client.indices.delete(index=",".join(names))
    missing_ok = client.options(ignore_status=404)
    await missing_ok.indices.delete_index_template(name=TEMPLATE_PATTERN)
    await missing_ok.indices.delete_template(name=TEMPLATE_PATTERN)
    await missing_ok.cluster.delete_component_template(name=TEMPLATE_PATTERN)
