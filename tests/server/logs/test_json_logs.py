"""Every log record is one JSON object per line, with the seed's fields."""

from __future__ import annotations

import asyncio
import logging

import orjson

from jarvis.logs.render import render_plain_json_line, render_plain_json_lines

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


def test_a_batch_of_lines_is_cut_only_between_events_and_one_odd_event_holds_none_back():
    """The access lines of a loop iteration are rendered together and cut where one event
    ends: a value that spells that boundary, or one no JSON encoder takes as it is, changes
    neither how many lines there are nor what the others say."""
    forged = '/a"},{"timestamp":1}\n{"timestamp":2,"level":"ERROR'
    events = [
        {"timestamp": 1.5, "path": "/health", "n": 0},
        {"timestamp": 2.5, "path": forged, "n": 1},
        {"timestamp": 3.5, "user_agent": "bot\udcff/1", "n": 2},
        {"timestamp": 4.5, "path": "/chat", "n": 3},
    ]
    text = render_plain_json_lines(events)
    lines = text.split(b"\n")
    assert lines[-1] == b"" and len(lines) == len(events) + 1
    decoded = [orjson.loads(line) for line in lines[:-1]]
    assert [line["n"] for line in decoded] == [0, 1, 2, 3]
    assert decoded[1]["path"] == forged
    assert decoded[2]["user_agent"] == "bot\\udcff/1", "the odd bytes are shown, not dropped"
    assert decoded[3] == events[3]
    assert render_plain_json_lines(events[1:2]) == render_plain_json_line(events[1])
    assert render_plain_json_lines([]) == b""


def test_a_value_holding_objects_that_begin_as_events_do_is_not_cut_either():
    nested = [
        {"timestamp": 1.5, "spans": [{"timestamp": 1.0, "n": "a"}, {"timestamp": 1.2}]},
        {"timestamp": 2.5, "n": 1},
    ]
    lines = render_plain_json_lines(nested).split(b"\n")
    assert [orjson.loads(line) for line in lines[:-1]] == nested and lines[-1] == b""
