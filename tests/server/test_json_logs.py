"""Every log record is one JSON object per line, with the seed's fields, and nothing is lost."""

from __future__ import annotations

import asyncio
import logging
import os

import orjson
from support.jarvis_server import read_json_lines

from jarvis.app_keys import HEALTH
from jarvis.logs.handler import JsonLogHandler
from jarvis.logs.writer import LogWriter

SEED_FIELDS = {"timestamp", "level", "logger", "message", "module", "function", "line"}


async def test_every_line_of_the_log_file_is_json_with_the_seed_fields(jarvis_server):
    server = await jarvis_server()
    async with server.session.post(
        server.url + "/chat", json={"message": "test", "user_id": "enzo"}
    ) as response:
        request_id = response.headers["X-Request-ID"]
    async with server.session.post(server.url + "/chat", data=b"{not json") as response:
        assert response.status == 400
    await server.wait_for_log(lambda line: line.get("status") == 400)
    lines = server.logs()
    assert len(lines) >= 5
    for line in lines:
        assert SEED_FIELDS <= line.keys(), line
        assert isinstance(line["timestamp"], float)
        assert line["level"] in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}
    request = next(line for line in lines if line.get("action") == "chat_request")
    assert request["request_id"] == request_id
    assert request["logger"] == "jarvis.chat"
    assert request["module"] == "service"
    assert request["function"] == "reply"
    assert request["user_id"] == "enzo"
    assert request["message_length"] == 4


async def test_chat_texts_are_not_logged_by_default_only_their_lengths(jarvis_server):
    server = await jarvis_server()
    secret = "my-bank-password-is-hunter2"
    async with server.session.post(
        server.url + "/chat", json={"message": secret, "user_id": "enzo"}
    ) as response:
        assert (await response.json())["response"].endswith(secret)
    async with server.session.ws_connect(server.url + "/ws") as ws:
        await ws.send_json({"message": secret, "user_id": "enzo"})
        while (await ws.receive_json())["type"] != "done":
            pass
    await server.wait_for_log(lambda line: line.get("action") == "ws_close")
    text = server.log_file.read_text()
    assert secret not in text
    success = [line for line in server.logs() if line.get("action") == "chat_success"]
    assert [line["response_length"] for line in success] == [len("Echo: " + secret)] * 2


async def test_the_access_log_has_method_path_status_duration_bytes_and_client(jarvis_server):
    server = await jarvis_server()
    async with server.session.get(
        server.url + "/health?probe=1", headers={"User-Agent": "kube-probe/1.29"}
    ) as response:
        body = await response.read()
    access = await server.wait_for_log(lambda line: line.get("action") == "http_access")
    assert access["logger"] == "jarvis.access"
    assert access["method"] == "GET"
    assert access["path"] == "/health"
    assert access["route"] == "/health"
    assert access["status"] == 200
    assert access["duration_ms"] > 0
    assert access["bytes"] == len(body)
    assert access["client"] == "127.0.0.1"
    assert access["user_agent"] == "kube-probe/1.29"
    assert access["request_id"] == response.headers["X-Request-ID"]


async def test_the_log_level_filters_records(jarvis_server):
    server = await jarvis_server(log_level="WARNING")
    async with server.session.post(server.url + "/chat", data=b"[") as response:
        assert response.status == 400
    await server.wait_for_log(lambda line: line.get("action") == "chat_error")
    assert all(line["level"] in {"WARNING", "ERROR", "CRITICAL"} for line in server.logs())


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
    old = read_json_lines(tmp_path / "jarvis.jsonl.1")
    new = read_json_lines(path)
    assert sorted(line["n"] for line in old + new) == list(range(2000))
    assert new, "the writer kept writing into the renamed file"
    assert writer.reopens == 1


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


async def test_a_message_with_newlines_and_quotes_stays_one_line(jarvis_server):
    server = await jarvis_server()
    logging.getLogger("jarvis.test").warning('evil\n{"level":"CRITICAL"}\r\n"quoted"')
    await server.wait_for_log(lambda line: line.get("logger") == "jarvis.test")
    line = next(line for line in server.logs() if line.get("logger") == "jarvis.test")
    assert line["message"] == 'evil\n{"level":"CRITICAL"}\r\n"quoted"'
    assert not any(line.get("level") == "CRITICAL" for line in server.logs())


async def test_unserialisable_extra_fields_are_rendered_as_text(jarvis_server):
    server = await jarvis_server()
    logging.getLogger("jarvis.test").info(
        "odd", extra={"obj": object(), "big": 2**80, "when": asyncio}
    )
    line = await server.wait_for_log(lambda line: line.get("message") == "odd")
    assert line["big"] == str(2**80)
    assert line["obj"].startswith("<object object")
