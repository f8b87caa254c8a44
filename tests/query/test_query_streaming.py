"""``jarvis-logs trace`` prints a long trace as it reads it, page after page, in order, with
its summary last; from Elasticsearch and from the files alike."""

from __future__ import annotations

import asyncio
import re
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from query_documents import PrivateIndices, shipped
from query_log_lines import log_line, write_jsonl
from support.jarvis_logs_cli import cli_environment, jsonl, run_cli

from shipper.query.timeline import Summary

pytestmark = pytest.mark.timeout(180)

LONG = "long-session-1"


def long_session(start: float, count: int) -> list[dict]:
    """``count`` events of one request, 10 ms apart, every 100th an error."""
    return [
        log_line(
            start + number * 0.01,
            "jarvis.ws",
            f"step {number}",
            request_id=LONG,
            level="ERROR" if number % 100 == 99 else "INFO",
            user_id="enzo",
            step=number,
        )
        for number in range(count)
    ]


@pytest.fixture
async def indices(es_client) -> AsyncIterator[PrivateIndices]:
    private = PrivateIndices(es_client)
    yield private
    await private.delete()


async def test_a_trace_over_many_pages_is_whole_and_in_order_with_its_summary_last(es_url, indices):
    lines = long_session(time.time() - 600, 250)
    await indices.index(shipped(lines))
    result = await run_cli(
        "trace", LONG, "--es-url", es_url, "--index", indices.pattern, "--page-size", "7"
    )
    assert result.status == 0, result.stderr
    *body, blank, summary = result.stdout.splitlines()
    events = [line for line in body if not line.startswith("    ")]
    assert [int(re.search(r"step (\d+)", line).group(1)) for line in events] == list(range(250))
    # Each gap is from the event before, the first of a page included.
    assert all("+10.0ms" in line for line in events[1:])
    assert blank == ""
    assert summary.startswith(f"Request {LONG}") and "250 events" in summary
    assert "2 errors" in summary and "user enzo" in summary and "2.490s" in summary


async def test_the_files_give_a_trace_longer_than_a_batch_whole_and_in_order(tmp_path: Path):
    start = time.time() - 600
    lines = long_session(start, 2500)
    write_jsonl(tmp_path / "jarvis.jsonl.1.gz", lines[:1200], compress=True)
    write_jsonl(tmp_path / "jarvis.jsonl", lines[1200:])
    result = await run_cli(
        "trace", LONG, "--json", "--source", "files", "--path", str(tmp_path / "jarvis.jsonl*")
    )
    assert result.status == 0, result.stderr
    assert jsonl(result.stdout) == lines


class HeldBackElasticsearch:
    """A loopback proxy to Elasticsearch that holds the third page of a search back until
    ``release`` is set: whatever the CLI prints meanwhile, it printed before the last page."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.release = asyncio.Event()
        self.third_page_asked = asyncio.Event()
        self.searches = 0
        self.url = ""

    async def forward(self, request: web.Request) -> web.Response:
        body = await request.read()
        if request.path.endswith("/_search"):
            self.searches += 1
            if self.searches == 3:
                self.third_page_asked.set()
                await self.release.wait()
        headers = {
            name: value
            for name, value in request.headers.items()
            if name.lower() not in ("host", "content-length")
        }
        async with aiohttp.ClientSession() as session:
            async with session.request(
                request.method, self.upstream + request.path_qs, data=body, headers=headers
            ) as answer:
                content = await answer.read()
                kept = {
                    name: value
                    for name, value in answer.headers.items()
                    if name.lower() in ("content-type", "x-elastic-product")
                }
                return web.Response(status=answer.status, body=content, headers=kept)


@pytest.fixture
async def held_back(es_url) -> AsyncIterator[HeldBackElasticsearch]:
    proxy = HeldBackElasticsearch(es_url)
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", proxy.forward)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    proxy.url = f"http://127.0.0.1:{port}"
    try:
        yield proxy
    finally:
        proxy.release.set()
        await runner.cleanup()


async def test_the_first_events_are_printed_before_the_last_page_is_read(indices, held_back):
    lines = long_session(time.time() - 600, 30)
    await indices.index(shipped(lines))
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "shipper.query", "trace", LONG, "--index", indices.pattern,
        "--elasticsearch-url", held_back.url, "--page-size", "10", "--no-pager",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        env=cli_environment(),
    )  # fmt: skip
    assert process.stdout is not None
    try:
        first = await asyncio.wait_for(process.stdout.readline(), 60)
        assert "step 0" in first.decode()
        assert not held_back.release.is_set(), "printed while the third page is held back"
        await asyncio.wait_for(held_back.third_page_asked.wait(), 60)
        held_back.release.set()
        rest, errors = await asyncio.wait_for(process.communicate(), 60)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert process.returncode == 0, errors.decode()
    output = (first + rest).decode().splitlines()
    assert "30 events" in output[-1]
    assert sum(1 for line in output if "step " in line) == 30


def test_a_summary_names_the_first_users_and_counts_the_others():
    summary = Summary()
    summary.add({"user_id": f"user-{number}", "timestamp": 1.0} for number in range(25))
    summary.add([{"user_id": "user-3"}, {"user_id": 42}])
    (text,) = [line for line in summary.lines(colour=False, title="Request r") if line]
    assert "27 events" in text
    assert "user user-0, user-1," in text and "user-9 and 15 more" in text
