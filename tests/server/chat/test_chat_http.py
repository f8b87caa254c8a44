"""POST /chat: answers with memory through a real Ollama API, and bad input never gives a 500."""

from __future__ import annotations

from support.fake_ollama import Behaviour
from support.jarvis_server import sample, start_with_ollama

from jarvis.web.keys import CHAT_SERVICE


async def test_chat_answers_and_remembers_the_conversation(jarvis_server, fake_ollama):
    server = await start_with_ollama(jarvis_server, fake_ollama)
    for message in ("Bonjour", "Et ensuite ?"):
        async with server.session.post(
            server.url + "/chat", json={"message": message, "user_id": "enzo"}
        ) as response:
            assert response.status == 200
            body = await response.json()
        assert body == {
            "response": fake_ollama.answer,
            "request_id": response.headers["X-Request-ID"],
        }
    second = fake_ollama.chat_requests()[1].body
    assert second["model"] == "llama3.2:latest"
    assert second["messages"] == [
        {"role": "user", "content": "Bonjour"},
        {"role": "assistant", "content": fake_ollama.answer},
        {"role": "user", "content": "Et ensuite ?"},
    ]
    text = await server.metrics_text()
    assert sample(text, "chat_requests_total", secure="false", status="success") == 2
    assert sample(text, "llm_generate_seconds_count") == 2


async def test_each_user_has_its_own_memory(jarvis_server, fake_ollama):
    server = await start_with_ollama(jarvis_server, fake_ollama)
    for user in ("alice", "bob"):
        async with server.session.post(
            server.url + "/chat", json={"message": f"I am {user}", "user_id": user}
        ):
            pass
    assert fake_ollama.chat_requests()[1].body["messages"] == [
        {"role": "user", "content": "I am bob"}
    ]


BAD_BODIES = [
    (b"{not json", 400, "parse"),
    (b"", 400, "parse"),
    (b"[1, 2]", 422, "validation"),
    (b'{"user_id": "enzo"}', 422, "validation"),
    (b'{"message": "hi"}', 422, "validation"),
    (b'{"message": 42, "user_id": "enzo"}', 422, "validation"),
    (b'{"message": "hi", "user_id": ["enzo"]}', 422, "validation"),
    (b'{"message": "   ", "user_id": "enzo"}', 422, "validation"),
    (b'{"message": "hi", "user_id": "en zo\\n"}', 422, "validation"),
    (b'{"message": "hi", "user_id": ""}', 422, "validation"),
    ('{"message": "hi", "user_id": "enzo"}'.encode("utf-16"), 400, "parse"),
]


async def test_bad_bodies_get_a_clear_4xx_counted_by_stage(jarvis_server):
    server = await jarvis_server(rate_limit_enabled=False)
    for body, status, stage in BAD_BODIES:
        async with server.session.post(server.url + "/chat", data=body) as response:
            assert response.status == status, body
            payload = await response.json()
            assert payload["stage"] == stage
            assert payload["request_id"] == response.headers["X-Request-ID"]
            assert payload["error"]
    text = await server.metrics_text()
    assert sample(text, "chat_errors_total", stage="parse") == 3
    assert sample(text, "chat_errors_total", stage="validation") == 8
    assert sample(text, "chat_requests_total", secure="false", status="error") == 11
    assert sample(text, "http_requests_total", method="POST", route="/chat", status="500") is None


async def test_a_body_over_the_limit_is_refused_with_413(jarvis_server):
    server = await jarvis_server(max_body_bytes=2048)
    big = {"message": "x" * 4096, "user_id": "enzo"}
    async with server.session.post(server.url + "/chat", json=big) as response:
        assert response.status == 413
        assert (await response.json())["stage"] == "body_too_large"

    async def chunks():
        for _ in range(8):
            yield b"x" * 1024

    async with server.session.post(server.url + "/chat", data=chunks()) as response:
        assert response.status == 413, "chunked bodies are limited too"
    assert sample(await server.metrics_text(), "chat_errors_total", stage="body_too_large") == 2


async def test_a_message_over_the_character_limit_is_refused(jarvis_server):
    server = await jarvis_server(max_message_chars=10)
    async with server.session.post(
        server.url + "/chat", json={"message": "x" * 11, "user_id": "enzo"}
    ) as response:
        assert response.status == 422
        assert "10 characters" in (await response.json())["error"]


async def test_a_failing_model_gives_502_counted_as_llm_and_nothing_remembered(
    jarvis_server, fake_ollama
):
    server = await start_with_ollama(jarvis_server, fake_ollama)
    for behaviour in (Behaviour.HTTP_500, Behaviour.ERROR_MID_STREAM, Behaviour.HALF_CLOSED,
                      Behaviour.NO_DONE, Behaviour.MODEL_NOT_FOUND):  # fmt: skip
        fake_ollama.set_behaviour(behaviour)
        async with server.session.post(
            server.url + "/chat", json={"message": "hi", "user_id": "enzo"}
        ) as response:
            assert response.status == 502, behaviour
            body = await response.json()
            assert body["stage"] == "llm"
            assert body["request_id"] == response.headers["X-Request-ID"]
    fake_ollama.set_behaviour(Behaviour.NORMAL)
    async with server.session.post(
        server.url + "/chat", json={"message": "again", "user_id": "enzo"}
    ) as response:
        assert response.status == 200
    assert fake_ollama.chat_requests()[-1].body["messages"] == [
        {"role": "user", "content": "again"}
    ], "failed turns are not remembered"
    text = await server.metrics_text()
    assert sample(text, "chat_errors_total", stage="llm") == 5
    error = next(line for line in server.logs() if line.get("stage") == "llm")
    assert error["level"] == "ERROR" and error["user_id"] == "enzo"


async def test_a_model_that_never_answers_gives_504(jarvis_server, fake_ollama):
    server = await start_with_ollama(jarvis_server, fake_ollama)
    fake_ollama.set_behaviour(Behaviour.HANG)
    async with server.session.post(
        server.url + "/chat", json={"message": "hi", "user_id": "enzo"}
    ) as response:
        assert response.status == 504
        assert (await response.json())["stage"] == "llm"


async def test_memory_failure_gives_503_counted_as_memory(jarvis_server):
    server = await jarvis_server()
    await server.app[CHAT_SERVICE]._memory.close()
    async with server.session.post(
        server.url + "/chat", json={"message": "hi", "user_id": "enzo"}
    ) as response:
        assert response.status == 503
        assert (await response.json())["stage"] == "memory"
    text = await server.metrics_text()
    assert sample(text, "chat_errors_total", stage="memory") == 1
    assert sample(text, "memory_operations_total", operation="load", status="error") == 1
