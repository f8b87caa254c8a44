"""jarvis-proxy (nginx, ``docker/proxy/nginx.conf``) puts every jarvis-api replica behind port 8000.

First read as nginx reads it (directives, blocks) and held against the Compose file and the API's
settings: it listens where Compose publishes, forwards to the API's service name and port, passes
the client's address, the request ID and WebSocket upgrades. Then, where Debian's ``nginx`` is
installed (``.ci/setup`` installs it), a real nginx runs the same file, its upstream pointed at two
``jarvis serve`` on loopback instead of the replicas Docker's DNS would name.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shutil
import signal
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import pytest
import pytest_asyncio
import yaml
from support.jarvis_server import JarvisProcess, free_port, receive_turn, start_jarvis_serve

from jarvis.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker" / "docker-compose.yml"
# The official image includes conf.d/*.conf inside its `http` block.
CONFIG_MOUNT = "/etc/nginx/conf.d/default.conf"
# Docker's embedded DNS server, in every container on a Compose network.
DOCKER_DNS = "127.0.0.11"
# The first nginx whose open-source `server ... resolve` follows DNS changes in an upstream.
RESOLVE_SINCE = (1, 27, 3)
NGINX = shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin:/sbin")

live = pytest.mark.asyncio(loop_scope="module")
needs_nginx = pytest.mark.skipif(
    NGINX is None, reason="nginx is not installed: .ci/setup installs it (Debian package nginx)"
)

_TOKEN = re.compile(r'"((?:[^"\\]|\\.)*)"|\'((?:[^\'\\]|\\.)*)\'|#[^\n]*|([{};])|([^\s{};"\'#]+)')


@dataclass(frozen=True)
class Directive:
    """One nginx directive: ``name args...;`` or ``name args... { block }``."""

    name: str
    args: tuple[str, ...]
    block: tuple[Directive, ...] = ()

    def all(self, name: str) -> list[Directive]:
        return [d for d in self.block if d.name == name]

    def one(self, name: str) -> Directive:
        found = self.all(name)
        assert len(found) == 1, f"{len(found)} {name!r} directives in {self.name} {self.args}"
        return found[0]


def _directives(tokens: Iterator[tuple[str, bool]]) -> tuple[Directive, ...]:
    """Directives up to the end of the text or of the enclosing block."""
    found: list[Directive] = []
    words: list[str] = []
    for value, punctuation in tokens:
        if not punctuation:
            words.append(value)
        elif value == ";":
            found.append(Directive(words[0], tuple(words[1:])))
            words = []
        elif value == "{":
            found.append(Directive(words[0], tuple(words[1:]), _directives(tokens)))
            words = []
        else:
            break
    assert not words, f"unterminated directive {words}"
    return tuple(found)


def parse_nginx(text: str) -> Directive:
    """The directives of an nginx config file, as the block of an ``http`` directive."""
    tokens = (
        (next(g for g in match.groups() if g is not None), match.group(3) is not None)
        for match in _TOKEN.finditer(text)
        if not match.group(0).startswith("#")
    )
    return Directive("http", (), _directives(tokens))


def _services() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE_FILE.read_text())["services"]


def _config_path() -> Path:
    mounts = {v.split(":")[1]: v.split(":")[0] for v in _services()["jarvis-proxy"]["volumes"]}
    assert CONFIG_MOUNT in mounts, "the proxy's config is not mounted where nginx reads it"
    return COMPOSE_FILE.parent / mounts[CONFIG_MOUNT]


def _config() -> Directive:
    return parse_nginx(_config_path().read_text())


def _api_settings() -> Settings:
    # An empty config file: only defaults and the service's environment apply, as in the image.
    environ = {**_services()["jarvis-api"]["environment"], "JARVIS_CONFIG": os.devnull}
    return Settings.load(environ=environ)


def _published_port() -> int:
    """The container port jarvis-proxy publishes (one, for the API)."""
    ports = _services()["jarvis-proxy"]["ports"]
    assert len(ports) == 1, ports
    return int(ports[0].rsplit(":", 1)[1])


def _listen_port(server: Directive) -> int:
    return int(server.one("listen").args[0].rsplit(":", 1)[-1])


def _server_on(port: int) -> Directive:
    servers = [s for s in _config().all("server") if _listen_port(s) == port]
    assert len(servers) == 1, f"{len(servers)} servers listen on {port}"
    return servers[0]


def _location(server: Directive, *match: str) -> Directive:
    [location] = [loc for loc in server.all("location") if loc.args == match]
    return location


def _healthcheck_url() -> str:
    test = _services()["jarvis-proxy"]["healthcheck"]["test"]
    urls = [arg for arg in test if arg.startswith("http://")]
    assert len(urls) == 1, test
    return urls[0]


def _header_variable(header: str) -> str:
    """The variable nginx gives a request header: ``X-Request-ID`` -> ``$http_x_request_id``."""
    return "$http_" + header.lower().replace("-", "_")


def _seconds(value: str) -> float:
    units = {"ms": 0.001, "s": 1, "m": 60, "h": 3600}
    match = re.fullmatch(r"(\d+)(ms|s|m|h)?", value)
    assert match, value
    return int(match.group(1)) * units[match.group(2) or "s"]


def test_parser_reads_blocks_quotes_and_comments() -> None:
    """Proves the parser the tests below rely on."""
    config = parse_nginx('a 1; # b 2;\nu x { s "y; z" \'q\'; } m $v $w {default on; "" "";}')
    assert [d.name for d in config.block] == ["a", "u", "m"]
    assert config.one("u").one("s").args == ("y; z", "q")
    assert config.one("m").all("") == [Directive("", ("",))]


def test_proxy_is_the_official_nginx_pinned_to_a_version_that_follows_dns() -> None:
    image = _services()["jarvis-proxy"]["image"]
    match = re.fullmatch(r"nginx:(\d+)\.(\d+)\.(\d+)(-alpine)?", image)
    assert match, f"{image}: the official nginx image, pinned to a release"
    servers = _config().one("upstream").all("server")
    if any("resolve" in server.args for server in servers):
        assert tuple(int(part) for part in match.groups()[:3]) >= RESOLVE_SINCE, image


def test_proxy_listens_where_compose_publishes_and_forwards_to_every_replica() -> None:
    config = _config()
    server = _server_on(_published_port())
    upstream_name = urlsplit(_location(server, "/").one("proxy_pass").args[0]).hostname
    upstream = config.one("upstream")
    assert upstream.args == (upstream_name,)
    # Every replica, by the service's name, followed as replicas come and go.
    assert [s.args for s in upstream.all("server")] == [
        (f"jarvis-api:{_api_settings().port}", "resolve")
    ]
    assert upstream.all("zone"), "`resolve` needs a shared memory zone"
    assert config.one("resolver").args[0] == DOCKER_DNS
    assert "jarvis-api" in _services()


def test_proxy_passes_client_address_request_id_and_websocket_upgrades() -> None:
    config = _config()
    server = _server_on(_published_port())
    headers = {d.args[0].lower(): d.args[1] for d in server.all("proxy_set_header")}
    request_id = _api_settings().request_id_header
    assert headers["x-forwarded-for"] == "$proxy_add_x_forwarded_for"
    assert headers[request_id.lower()] == _header_variable(request_id)
    assert headers["upgrade"] == "$http_upgrade"
    [upgrade] = [m for m in config.all("map") if m.args[0] == "$http_upgrade"]
    assert headers["connection"] == upgrade.args[1]
    assert {d.name: d.args[0] for d in upgrade.block} == {"default": "upgrade", "": ""}
    assert server.one("proxy_http_version").args == ("1.1",)
    for location in server.all("location"):
        # A location with a proxy_set_header of its own drops every one set on the server.
        assert not location.all("proxy_set_header"), location.args


def test_api_trusts_exactly_the_one_proxy_in_front() -> None:
    """Hops = 1: the last X-Forwarded-For entry is the one nginx sets; the rest is the client's."""
    assert _api_settings().trusted_proxy_hops == 1
    assert _services()["jarvis-proxy"]["depends_on"]["jarvis-api"]["condition"] == "service_healthy"


def test_proxy_waits_longer_than_the_api_may_take_to_answer() -> None:
    timeout = _seconds(_server_on(_published_port()).one("proxy_read_timeout").args[0])
    assert timeout > _api_settings().ollama_total_timeout


def test_proxy_healthcheck_asks_a_listener_on_loopback_never_published() -> None:
    url = urlsplit(_healthcheck_url())
    assert url.hostname == "127.0.0.1"
    server = _server_on(url.port or 80)
    assert server.one("listen").args[0] == f"127.0.0.1:{url.port}"
    assert [location.args for location in server.all("location")] == [("=", url.path)]
    assert url.port != _published_port()


def test_proxy_does_not_serve_one_replicas_metrics() -> None:
    location = _location(_server_on(_published_port()), "=", "/metrics")
    assert location.one("return").args == ("404",)


def loopback_proxy_config(text: str, workdir: Path, replica_ports: list[int]) -> tuple[str, int]:
    """The proxy's file as a whole nginx.conf for this machine: its upstream is the given
    loopback ports, its listeners free loopback ports, its logs and temp files in ``workdir``.
    Returns the config and the port standing for the published one."""
    replicas = "\n".join(f"    server 127.0.0.1:{port};" for port in replica_ports)
    text, count = re.subn(r"^\s*server\s+jarvis-api:\d+\s+resolve;", replicas, text, flags=re.M)
    assert count == 1, "the upstream's server line was not found"
    ports: dict[int, int] = {}

    def listen(match: re.Match[str]) -> str:
        ports[int(match.group(1))] = free_port()
        return f"listen 127.0.0.1:{ports[int(match.group(1))]};"

    text = re.sub(r"listen\s+(?:[\d.]+:)?(\d+);", listen, text)
    text = re.sub(r"access_log\s+/\S+", f"access_log {workdir / 'access.log'}", text)
    temp_paths = "\n".join(
        f"{kind}_temp_path {workdir / kind};"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    # Root's workers would otherwise drop to `nobody`, who cannot enter pytest's temp folders.
    user = "user root;" if os.geteuid() == 0 else ""
    main = f"""
daemon off;
{user}
pid {workdir / "nginx.pid"};
error_log {workdir / "error.log"} info;
events {{ worker_connections 256; }}
http {{
{temp_paths}
{text}
}}
"""
    return main, ports[_published_port()]


@dataclass
class ProxiedReplicas:
    url: str
    replicas: list[JarvisProcess]
    access_log: Path

    def replica_lines(self, request_id: str) -> list[tuple[int, dict[str, Any]]]:
        """(replica index, line) of every access line logged for ``request_id``."""
        return [
            (index, line)
            for index, replica in enumerate(self.replicas)
            for line in replica.logs()
            if line.get("request_id") == request_id and line.get("action") == "http_access"
        ]


async def _poll(check: Callable[[], Any], what: str, timeout: float = 10.0) -> Any:
    """The first truthy answer of ``check``, asked until ``timeout``."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not (result := check()):
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"{what}: not within {timeout:g} s")
        await asyncio.sleep(0.05)
    return result


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def proxied(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[ProxiedReplicas]:
    """Two ``jarvis serve`` with the API's proxy settings from the Compose file, behind a real
    nginx running ``docker/proxy/nginx.conf``."""
    assert NGINX is not None
    api_env = _services()["jarvis-api"]["environment"]
    env = {name: api_env[name] for name in ("TRUSTED_PROXY_HOPS", "REQUEST_ID_HEADER")}
    async with contextlib.AsyncExitStack() as exits:
        replicas = []
        for index in range(2):
            workdir = tmp_path_factory.mktemp(f"replica-{index}")
            replica = await start_jarvis_serve(workdir, env=env)
            exits.push_async_callback(replica.terminate)
            replicas.append(replica)
        workdir = tmp_path_factory.mktemp("nginx")
        config, port = loopback_proxy_config(
            _config_path().read_text(),
            workdir,
            [int(replica.url.rsplit(":", 1)[1]) for replica in replicas],
        )
        (workdir / "nginx.conf").write_text(config)
        error_log = workdir / "error.log"
        nginx = await asyncio.create_subprocess_exec(
            NGINX, "-p", str(workdir), "-e", str(error_log), "-c", str(workdir / "nginx.conf"),
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
            start_new_session=True,
        )  # fmt: skip

        async def stop_nginx() -> None:
            if nginx.returncode is None:
                nginx.send_signal(signal.SIGTERM)
            await asyncio.wait_for(nginx.wait(), 10)

        exits.push_async_callback(stop_nginx)
        url = f"http://127.0.0.1:{port}"
        async with aiohttp.ClientSession() as session:
            deadline = asyncio.get_running_loop().time() + 15
            while True:
                assert nginx.returncode is None, error_log.read_text()
                with contextlib.suppress(aiohttp.ClientError):
                    async with session.get(url + "/health") as response:
                        if response.status in (200, 503):
                            break
                assert asyncio.get_running_loop().time() < deadline, error_log.read_text()
                await asyncio.sleep(0.1)
        yield ProxiedReplicas(url, replicas, workdir / "access.log")


@needs_nginx
@live
async def test_requests_through_nginx_reach_every_replica(proxied: ProxiedReplicas) -> None:
    async with aiohttp.ClientSession() as session:
        for i in range(8):
            headers = {"X-Request-ID": f"spread-{i}"}
            async with session.get(proxied.url + "/health", headers=headers) as response:
                assert response.status in (200, 503)

    def replicas_reached() -> set[int]:
        reached = {index for i in range(8) for index, _ in proxied.replica_lines(f"spread-{i}")}
        return reached if len(reached) == len(proxied.replicas) else set()

    await _poll(replicas_reached, "both replicas answering through nginx")


@needs_nginx
@live
async def test_request_id_travels_through_nginx_both_ways(proxied: ProxiedReplicas) -> None:
    chat = {"message": "hello", "user_id": "proxy-user"}
    async with aiohttp.ClientSession() as session:
        headers = {"X-Request-ID": "through-nginx-1"}
        async with session.post(proxied.url + "/chat", json=chat, headers=headers) as response:
            assert response.status == 200, await response.text()
            assert response.headers["X-Request-ID"] == "through-nginx-1"
        async with session.get(proxied.url + "/health") as response:
            generated = response.headers["X-Request-ID"]
    await _poll(lambda: proxied.replica_lines("through-nginx-1"), "the replica logging the ID")
    # The proxy's own log names the ID the replica chose, so one trace joins both logs.
    await _poll(
        lambda: f"request_id={generated} " in proxied.access_log.read_text(),
        "nginx logging the replica's request ID",
    )


@needs_nginx
@live
async def test_replica_logs_the_address_nginx_saw_not_the_one_claimed(
    proxied: ProxiedReplicas,
) -> None:
    """The client comes from 127.0.0.2 (nginx talks to the replicas from 127.0.0.1) and claims
    to be 203.0.113.9 in an X-Forwarded-For of its own."""
    connector = aiohttp.TCPConnector(local_addr=("127.0.0.2", 0))
    async with aiohttp.ClientSession(connector=connector) as session:
        headers = {"X-Request-ID": "forwarded-1", "X-Forwarded-For": "203.0.113.9"}
        async with session.get(proxied.url + "/health", headers=headers) as response:
            assert response.status in (200, 503)
    [(_, line)] = await _poll(lambda: proxied.replica_lines("forwarded-1"), "the access line")
    assert line["client"] == "127.0.0.2"


@needs_nginx
@live
async def test_websocket_chat_through_nginx(proxied: ProxiedReplicas) -> None:
    async with aiohttp.ClientSession() as session, session.ws_connect(proxied.url + "/ws") as ws:
        await ws.send_json({"message": "over the proxy", "user_id": "ws-proxy-user"})
        frames = await receive_turn(ws)
    assert frames[-1]["type"] == "done", frames
    assert any(frame["type"] == "token" for frame in frames), frames


@needs_nginx
@live
async def test_metrics_stay_with_each_replica(proxied: ProxiedReplicas) -> None:
    async with aiohttp.ClientSession() as session:
        async with session.get(proxied.url + "/metrics") as response:
            assert response.status == 404
        async with session.get(proxied.replicas[0].url + "/metrics") as response:
            assert response.status == 200
