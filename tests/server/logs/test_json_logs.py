"""Every log record is one JSON object per line, with the seed's fields."""

from __future__ import annotations

import asyncio
import logging

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


async def test_the_log_level_filters_records(jarvis_server):
    server = await jarvis_server(log_level="WARNING")
    async with server.session.post(server.url + "/chat", data=b"[") as response:
        assert response.status == 400
    await server.wait_for_log(lambda line: line.get("action") == "chat_error")
    assert all(line["level"] in {"WARNING", "ERROR", "CRITICAL"} for line in server.logs())


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
