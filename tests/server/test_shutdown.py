"""A shutdown shorter than a request (``SHUTDOWN_TIMEOUT`` below the model's answer time):
the requests it cuts off are answered 503 and leave their access line and their outcome line
in the log file before ``jarvis serve`` exits."""

from __future__ import annotations

import asyncio
import signal
import time
from pathlib import Path

import aiohttp
from support.fake_ollama import Behaviour
from support.jarvis_server import JarvisProcess, start_jarvis_serve

# Each of the six tokens of the fake model's answer comes after this long.
TOKEN_DELAY = 2.0


async def slow_model_server(tmp_path: Path, fake_ollama, shutdown_timeout: str) -> JarvisProcess:
    fake_ollama.set_behaviour(Behaviour.SLOW, delay=TOKEN_DELAY)
    return await start_jarvis_serve(
        tmp_path,
        env={
            "JARVIS_LLM": "ollama",
            "OLLAMA_URL": fake_ollama.url,
            "OLLAMA_MODEL": "llama3.2:latest",
            "OLLAMA_READ_TIMEOUT": "30",
            "OLLAMA_TOTAL_TIMEOUT": "60",
            "SHUTDOWN_TIMEOUT": shutdown_timeout,
        },
    )


async def until_the_model_is_asked(fake_ollama, count: int) -> None:
    for _ in range(500):
        if len(fake_ollama.chat_requests()) >= count:
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the chats never reached the model")


async def test_chats_cut_off_by_shutdown_get_a_503_an_access_line_and_an_outcome(
    tmp_path: Path, fake_ollama
) -> None:
    server = await slow_model_server(tmp_path, fake_ollama, shutdown_timeout="1")
    async with aiohttp.ClientSession() as session:
        chats = [
            asyncio.create_task(
                session.post(server.url + "/chat", json={"message": "hi", "user_id": f"u{i}"})
            )
            for i in range(3)
        ]
        await until_the_model_is_asked(fake_ollama, 3)
        stopping = time.monotonic()
        server.process.send_signal(signal.SIGTERM)
        responses = await asyncio.wait_for(asyncio.gather(*chats), 10)
        bodies = [await response.json() for response in responses]
        assert await asyncio.wait_for(server.process.wait(), 15) == 0
    assert time.monotonic() - stopping < 6 * TOKEN_DELAY, "cut off, not waited for"

    request_ids = {response.headers["X-Request-ID"] for response in responses}
    assert [response.status for response in responses] == [503] * 3
    assert {body["request_id"] for body in bodies} == request_ids
    assert all(body["stage"] == "shutdown" for body in bodies)
    lines = server.logs()
    for request_id in request_ids:
        mine = [line for line in lines if line.get("request_id") == request_id]
        assert [line["action"] for line in mine] == ["chat_request", "chat_error", "http_access"]
        outcome, access = mine[1], mine[2]
        assert outcome["stage"] == "shutdown" and outcome["level"] == "ERROR"
        assert access["status"] == 503 and access["route"] == "/chat"
        assert access["duration_ms"] >= 1000
    assert lines[-1]["action"] == "shutdown", "the cut-off lines were flushed before the end"


async def test_requests_finishing_within_the_shutdown_timeout_are_not_cut_off(
    tmp_path: Path, fake_ollama
) -> None:
    server = await slow_model_server(tmp_path, fake_ollama, shutdown_timeout="30")
    fake_ollama.set_behaviour(Behaviour.SLOW, delay=0.2)
    async with aiohttp.ClientSession() as session:
        chat = asyncio.create_task(
            session.post(server.url + "/chat", json={"message": "hi", "user_id": "enzo"})
        )
        await until_the_model_is_asked(fake_ollama, 1)
        server.process.send_signal(signal.SIGTERM)
        response = await asyncio.wait_for(chat, 10)
        assert response.status == 200
        assert await asyncio.wait_for(server.process.wait(), 15) == 0
    actions = [line.get("action") for line in server.logs()]
    assert "chat_success" in actions and "chat_error" not in actions


async def test_a_websocket_cut_off_mid_answer_gets_its_access_line_and_close_line(
    tmp_path: Path, fake_ollama
) -> None:
    server = await slow_model_server(tmp_path, fake_ollama, shutdown_timeout="1")
    async with aiohttp.ClientSession() as session:
        ws = await session.ws_connect(server.url + "/ws")
        request_id = ws._response.headers["X-Request-ID"]
        await ws.send_json({"message": "hi", "user_id": "enzo"})
        await until_the_model_is_asked(fake_ollama, 1)
        server.process.send_signal(signal.SIGTERM)
        while (await asyncio.wait_for(ws.receive(), 10)).type not in (
            aiohttp.WSMsgType.CLOSE,
            aiohttp.WSMsgType.CLOSED,
        ):
            pass
        assert await asyncio.wait_for(server.process.wait(), 15) == 0
    mine = [line for line in server.logs() if line.get("request_id") == request_id]
    actions = [line["action"] for line in mine]
    assert actions[-2:] == ["ws_close", "http_access"], actions
    assert mine[-1]["status"] == 101
