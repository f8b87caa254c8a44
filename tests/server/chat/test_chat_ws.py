"""GET /ws: streamed answers, errors that keep the socket usable, one request ID per session."""

from __future__ import annotations

import asyncio

import aiohttp
from support.fake_ollama import Behaviour
from support.jarvis_server import receive_turn, sample, start_with_ollama


async def test_tokens_stream_then_one_done_frame(jarvis_server, fake_ollama):
    server = await start_with_ollama(jarvis_server, fake_ollama)
    async with server.session.ws_connect(server.url + "/ws") as ws:
        request_id = ws._response.headers["X-Request-ID"]
        await ws.send_json({"message": "Bonjour", "user_id": "enzo"})
        frames = await receive_turn(ws)
    tokens = [f["content"] for f in frames if f["type"] == "token"]
    assert tokens == list(fake_ollama.reply)
    assert frames[-1] == {"type": "done", "response": "".join(tokens), "request_id": request_id}


async def test_a_bad_frame_gets_an_error_and_the_socket_stays_usable(jarvis_server):
    server = await jarvis_server()
    async with server.session.ws_connect(
        server.url + "/ws", headers={"X-Request-ID": "session-7"}
    ) as ws:
        await ws.send_str("{not json")
        parse_error = await receive_turn(ws)
        await ws.send_json({"message": 3})
        validation_error = await receive_turn(ws)
        await ws.send_bytes(b"\x00\x01")
        binary_error = await receive_turn(ws)
        await ws.send_json({"message": "still there?", "user_id": "enzo"})
        answer = await receive_turn(ws)
    for frames, stage in ((parse_error, "parse"), (validation_error, "validation"),
                          (binary_error, "parse")):  # fmt: skip
        assert frames == [
            {
                "type": "error",
                "error": frames[0]["error"],
                "stage": stage,
                "request_id": "session-7",
            }
        ]
    assert answer[-1]["type"] == "done" and answer[-1]["request_id"] == "session-7"
    text = await server.metrics_text()
    assert sample(text, "ws_messages_total", direction="in", status="error") == 2
    assert sample(text, "ws_messages_total", direction="in", status="ok") == 1
    assert sample(text, "chat_errors_total", stage="parse") == 1
    assert sample(text, "chat_errors_total", stage="validation") == 1


async def test_every_log_line_of_a_session_carries_the_upgrade_request_id(jarvis_server):
    server = await jarvis_server()
    async with server.session.ws_connect(
        server.url + "/ws", headers={"X-Request-ID": "session-42"}
    ) as ws:
        for i in range(3):
            await ws.send_json({"message": f"m{i}", "user_id": "enzo"})
            await receive_turn(ws)
        await ws.send_str("oops")
        await receive_turn(ws)
    close = await server.wait_for_log(lambda line: line.get("action") == "ws_close")
    session_lines = [
        line for line in server.logs() if line.get("logger") in ("jarvis.ws", "jarvis.chat")
    ]
    assert {line["request_id"] for line in session_lines} == {"session-42"}
    actions = [line["action"] for line in session_lines]
    assert actions.count("chat_request") == 3 and actions.count("chat_success") == 3
    assert actions[0] == "ws_connect" and actions[-1] == "ws_close"
    assert "chat_error" in actions
    assert close["messages_in"] == 4 and close["messages_out"] > 4
    assert close["close_code"] == 1000


async def test_a_model_failure_mid_stream_is_an_error_frame_not_a_done(jarvis_server, fake_ollama):
    server = await start_with_ollama(jarvis_server, fake_ollama)
    fake_ollama.set_behaviour(Behaviour.HALF_CLOSED)
    async with server.session.ws_connect(server.url + "/ws") as ws:
        await ws.send_json({"message": "hi", "user_id": "enzo"})
        frames = await receive_turn(ws)
        fake_ollama.set_behaviour(Behaviour.NORMAL)
        await ws.send_json({"message": "hi again", "user_id": "enzo"})
        retry = await receive_turn(ws)
    assert frames[-1]["type"] == "error" and frames[-1]["stage"] == "llm"
    assert not any(f["type"] == "done" for f in frames)
    assert retry[-1]["type"] == "done"


async def test_a_client_vanishing_mid_answer_is_cleaned_up(jarvis_server, fake_ollama):
    server = await start_with_ollama(jarvis_server, fake_ollama)
    fake_ollama.set_behaviour(Behaviour.SLOW, delay=0.05)
    session = aiohttp.ClientSession()
    ws = await session.ws_connect(server.url + "/ws")
    await ws.send_json({"message": "hi", "user_id": "enzo"})
    await ws.receive_json()
    ws._response.connection.transport.abort()  # type: ignore[union-attr]
    await session.close()
    await server.wait_for_log(lambda line: line.get("action") == "ws_close")
    assert sample(await server.metrics_text(), "ws_active_connections") == 0


async def test_a_plain_get_on_ws_is_refused_cleanly(jarvis_server):
    server = await jarvis_server()
    async with server.session.get(server.url + "/ws") as response:
        assert response.status == 400
        assert (await response.json())["request_id"] == response.headers["X-Request-ID"]
    assert sample(await server.metrics_text(), "ws_connections_total", status="rejected") == 1


async def test_an_oversized_frame_closes_with_1009_and_is_logged(jarvis_server):
    server = await jarvis_server(max_body_bytes=1024)
    async with server.session.ws_connect(
        server.url + "/ws", headers={"X-Request-ID": "big-frame"}
    ) as ws:
        await ws.send_str("x" * 4096)
        message = await asyncio.wait_for(ws.receive(), 5)
    assert message.type == aiohttp.WSMsgType.CLOSE
    assert ws.close_code == aiohttp.WSCloseCode.MESSAGE_TOO_BIG
    error = await server.wait_for_log(lambda line: line.get("action") == "ws_error")
    assert error["request_id"] == "big-frame" and error["stage"] == "body_too_large"
    await server.wait_for_log(lambda line: line.get("action") == "ws_close")
    text = await server.metrics_text()
    assert sample(text, "ws_active_connections") == 0
    assert sample(text, "ws_connections_total", status="error") == 1
    assert sample(text, "chat_errors_total", stage="body_too_large") == 1


async def test_an_oversized_frame_counts_as_a_refused_chat_like_an_http_413(jarvis_server):
    """Both the chat counter and the error counter, as ``POST /chat`` does with a 413."""
    server = await jarvis_server(max_body_bytes=1024)
    async with server.session.ws_connect(server.url + "/ws") as ws:
        await ws.send_str("x" * 4096)
        await asyncio.wait_for(ws.receive(), 5)
    refused = await server.wait_for_log(
        lambda line: line.get("action") == "chat_error" and line.get("transport") == "ws"
    )
    assert refused["stage"] == "body_too_large"
    text = await server.metrics_text()
    assert sample(text, "chat_requests_total", secure="false", status="error") == 1
    assert sample(text, "chat_errors_total", stage="body_too_large") == 1
