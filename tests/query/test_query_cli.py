"""``jarvis-logs`` arguments, exit statuses and terminal behaviour, whatever the source."""

from __future__ import annotations

import asyncio
import os
import pty
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from query_log_lines import failed_chat, http_chat_request, write_jsonl
from support.jarvis_logs_cli import cli_environment, run_cli

pytestmark = pytest.mark.timeout(120)

HOSTILE_REQUEST_IDS = [
    "",
    "has space",
    "x" * 129,
    "line\nbreak",
    "esc\x1b[31m",
    "tab\there",
    '" OR request_id:*',
    "*",
    "req/../_search",
    "caf\u00e9",
    "a{b}",
]


class ConnectionCounter:
    """A loopback TCP server that counts connections and hangs up at once."""

    def __init__(self) -> None:
        self.connections = 0
        self.url = ""

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        writer.close()


@pytest.fixture
async def counter() -> AsyncIterator[ConnectionCounter]:
    counting = ConnectionCounter()
    server = await asyncio.start_server(counting.handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    counting.url = f"http://127.0.0.1:{port}"
    async with server:
        yield counting


def dead_port_url() -> str:
    """A loopback URL nobody listens on: a port just freed."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}"


@pytest.mark.parametrize("request_id", HOSTILE_REQUEST_IDS)
async def test_a_hostile_request_id_is_refused_before_any_query(counter, request_id):
    result = await run_cli("trace", request_id, "--es-url", counter.url)
    assert result.status == 2
    assert "is not a request ID" in result.stderr
    assert "Traceback" not in result.stderr
    assert counter.connections == 0


async def test_a_valid_request_id_does_reach_elasticsearch(counter):
    """The counterpart of the refusals above: a good ID is queried (by a server that hangs up)."""
    result = await run_cli("trace", "123e4567-e89b-12d3-a456-426614174000", "--es-url", counter.url)
    assert counter.connections > 0
    assert result.status == 2
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    "command",
    [
        ["trace", "abc-123"],
        ["search", "--user", "enzo"],
        ["stats", "--since", "2h"],
    ],
)
async def test_unreachable_elasticsearch_exits_2_with_one_line(command):
    url = dead_port_url()
    result = await run_cli(*command, "--es-url", url)
    assert result.status == 2
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1
    assert f"cannot reach Elasticsearch at {url}" in result.stderr


async def test_elasticsearch_url_comes_from_the_environment_and_hides_credentials():
    url = dead_port_url().replace("http://", "http://elastic:s3cret@")
    result = await run_cli("trace", "abc-123", ELASTICSEARCH_URL=url)
    assert result.status == 2
    assert "cannot reach Elasticsearch at http://127.0.0.1:" in result.stderr
    assert "s3cret" not in result.stderr


@pytest.mark.parametrize(
    "arguments",
    [
        ["search", "--limit", "0"],
        ["search", "--since", "yesterday-ish"],
        ["search", "--level", "loud"],
        ["search", "--since", "1h", "--until", "2h"],
        ["search", "--text", "   "],
        ["stats", "--since", "0h"],
        ["trace"],
        ["frobnicate"],
        ["trace", "abc", "--source", "ftp"],
        ["--es-url", "not a url", "trace", "abc"],
    ],
)
async def test_wrong_arguments_exit_2_without_traceback(arguments):
    result = await run_cli(*arguments)
    assert result.status == 2
    assert result.stdout == ""
    assert "Traceback" not in result.stderr
    (line,) = result.stderr.splitlines()
    assert line.startswith("jarvis-logs")


@pytest.mark.parametrize(
    ("arguments", "environ", "named"),
    [
        (["search"], {"ELASTICSEARCH_TIMEOUT": "abc"}, "ELASTICSEARCH_TIMEOUT expects a number"),
        (["search"], {"ELASTICSEARCH_URL": "localhost:9200"}, "ELASTICSEARCH_URL must be"),
        (["search", "--elasticsearch-url", "http://h:99999"], {}, "--elasticsearch-url must"),
        (["--es-url", "localhost:9200", "search"], {}, "--elasticsearch-url must be"),
        (["search", "--limit", "zero"], {}, "argument --limit: invalid int value"),
    ],
)
async def test_a_bad_setting_is_one_line_naming_its_source(arguments, environ, named):
    result = await run_cli(*arguments, **environ)
    assert result.status == 2
    assert "Traceback" not in result.stderr
    (line,) = result.stderr.splitlines()
    assert line.startswith("jarvis-logs") and named in line


async def test_the_elasticsearch_url_option_has_one_name_and_the_old_one_still_works():
    url = dead_port_url()
    for option in ("--elasticsearch-url", "--es-url"):
        result = await run_cli("trace", "abc-123", option, url)
        assert result.status == 2
        assert f"cannot reach Elasticsearch at {url}" in result.stderr
    shown = (await run_cli("--help")).stdout
    assert "--elasticsearch-url" in shown and "--es-url" not in shown


def run_on_terminal(args: list[str], **environ: str) -> str:
    """Runs the CLI with stdout on a pseudo-terminal and returns what the terminal received."""
    controller, terminal = pty.openpty()
    process = subprocess.Popen(
        [sys.executable, "-m", "shipper.query", *args],
        stdin=subprocess.DEVNULL,
        stdout=terminal,
        stderr=subprocess.PIPE,
        env=cli_environment(**environ),
    )
    os.close(terminal)
    received = bytearray()
    try:
        while True:
            try:
                chunk = os.read(controller, 65536)
            except OSError:  # EIO: every writer to the terminal has closed it
                break
            if not chunk:
                break
            received += chunk
    finally:
        os.close(controller)
        process.wait(timeout=60)
    assert process.returncode == 0, process.stderr.read() if process.stderr else ""
    return received.decode()


@pytest.fixture
def error_log(tmp_path: Path) -> str:
    write_jsonl(
        tmp_path / "jarvis.jsonl",
        failed_chat("req-err-1", time.time() - 30, "enzo")
        + http_chat_request("req-ok-1", time.time() - 20, "zoe"),
    )
    return str(tmp_path / "jarvis.jsonl*")


def test_a_terminal_gets_colour_through_the_pager(error_log, tmp_path):
    pager_saw = tmp_path / "pager-input"
    pager = f"tee {pager_saw}"
    shown = run_on_terminal(
        ["trace", "req-err-1", "--source", "files", "--path", error_log], PAGER=pager
    )
    assert "\x1b[1;31mERROR" in shown
    assert "LLMTimeout: read timeout after 60s" in shown
    assert "\x1b[1;31mERROR" in pager_saw.read_text()


def test_no_color_environment_and_option_are_honoured(error_log):
    for environ, extra in (
        ({"NO_COLOR": "1", "PAGER": "cat"}, []),
        ({"PAGER": "cat"}, ["--no-color"]),
    ):
        shown = run_on_terminal(
            ["trace", "req-err-1", "--source", "files", "--path", error_log, *extra], **environ
        )
        assert "ERROR" in shown
        assert "\x1b[" not in shown


def test_no_pager_writes_straight_to_the_terminal(error_log, tmp_path):
    pager_saw = tmp_path / "pager-input"
    shown = run_on_terminal(
        ["trace", "req-err-1", "--source", "files", "--path", error_log, "--no-pager"],
        PAGER=f"tee {pager_saw}",
    )
    assert "LLMTimeout" in shown
    assert not pager_saw.exists()
