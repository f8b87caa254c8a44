"""The background writer: whole lines, nothing lost at stop, a rotated file followed, and a
full queue that drops lines (and says so) rather than blocking the server."""

from __future__ import annotations

import logging
import os

import orjson
from support.jarvis_server import read_json_lines

from jarvis.logs.handler import JsonLogHandler
from jarvis.logs.writer import LogWriter
from jarvis.web.keys import HEALTH


def test_the_writer_reopens_the_file_when_it_is_moved_and_splits_no_line(tmp_path):
    """The shipper rotates by renaming; each line lands whole in the old or the new file."""
    path = tmp_path / "jarvis.jsonl"
    writer = LogWriter(str(path), stdout=None).start()
    logger = logging.getLogger("test.rotation")
    logger.propagate = False
    logger.addHandler(JsonLogHandler(writer))
    logger.setLevel(logging.INFO)
    try:
        for i in range(2000):
            logger.info("line", extra={"n": i})
            if i == 1000:
                os.rename(path, tmp_path / "jarvis.jsonl.1")
    finally:
        writer.stop()
        logger.handlers.clear()
    old = [line["n"] for line in read_json_lines(tmp_path / "jarvis.jsonl.1")]
    new = [line["n"] for line in read_json_lines(path)]
    assert sorted(old + new) == list(range(2000))
    assert new, "the writer kept writing into the renamed file"
    # Reopened once, at the rename: the old file holds the lines before it, the new one the rest.
    assert old + new == list(range(2000))
    assert len(old) <= 1001, "no line logged after the rename went to the old file"


def test_the_writer_recreates_a_deleted_file(tmp_path):
    path = tmp_path / "logs" / "jarvis.jsonl"
    writer = LogWriter(str(path), stdout=None).start()
    writer.submit(b'{"n":1}\n')
    writer.stop()
    path.unlink()
    writer = LogWriter(str(path), stdout=None).start()
    writer.submit(b'{"n":2}\n')
    writer.stop()
    assert read_json_lines(path) == [{"n": 2}]


def test_records_logged_before_stop_are_all_flushed(tmp_path):
    path = tmp_path / "jarvis.jsonl"
    writer = LogWriter(str(path), stdout=None, queue_size=100_000).start()
    for i in range(50_000):
        writer.submit(orjson.dumps({"n": i}) + b"\n")
    writer.stop()
    assert len(read_json_lines(path)) == 50_000
    assert writer.lines_dropped == 0


async def test_a_full_queue_drops_instead_of_blocking_and_health_says_so(jarvis_server):
    server = await jarvis_server(log_queue_size=1)
    # Flood the handler faster than the writer thread can drain a queue of one line.
    flood = logging.getLogger("test.flood")
    for i in range(20_000):
        flood.error("flood %d", i)
    await server.app[HEALTH].check_all()
    async with server.session.get(server.url + "/health") as response:
        body = await response.json()
    assert response.status == 200, "a degraded log sink is not critical"
    assert body["status"] == "degraded"
    assert body["services"]["log_sink"]["status"] == "down"
    assert "dropped" in body["services"]["log_sink"]["error"]
    assert 'service_health_status{service="log_sink"} 0' in await server.metrics_text()
