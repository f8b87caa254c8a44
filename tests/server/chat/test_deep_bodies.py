"""A body or frame nested far beyond any decoder's limit is refused as bad JSON (400 over HTTP,
an error frame over WebSocket), never a crash or a 500, and the server goes on answering."""

from __future__ import annotations

from support.jarvis_server import sample

DEPTH = 100_000
DEEP_BODIES = [
    b"[" * DEPTH + b"]" * DEPTH,
    b'{"a":' * DEPTH + b"1" + b"}" * DEPTH,
    b'{"message": "hi", "user_id": "enzo", "x": ' + b"[" * DEPTH,
]


async def test_a_body_nested_100000_deep_is_a_400_and_the_server_answers_on(jarvis_server):
    server = await jarvis_server(max_body_bytes=1024 * 1024, rate_limit_enabled=False)
    for body in DEEP_BODIES:
        async with server.session.post(server.url + "/chat", data=body) as response:
            assert response.status == 400
            payload = await response.json()
            assert payload["stage"] == "parse"
            assert payload["request_id"] == response.headers["X-Request-ID"]
    async with server.session.post(
        server.url + "/chat", json={"message": "still there?", "user_id": "enzo"}
    ) as response:
        assert response.status == 200
    text = await server.metrics_text()
    assert sample(text, "chat_errors_total", stage="parse") == len(DEEP_BODIES)
    assert sample(text, "http_requests_total", method="POST", route="/chat", status="500") is None


async def test_a_frame_nested_100000_deep_gets_an_error_frame_and_the_socket_stays_open(
    jarvis_server,
):
    server = await jarvis_server(max_body_bytes=1024 * 1024, rate_limit_enabled=False)
    async with server.session.ws_connect(server.url + "/ws", max_msg_size=0) as ws:
        for body in DEEP_BODIES:
            await ws.send_str(body.decode())
            frame = await ws.receive_json(timeout=10)
            assert frame["type"] == "error" and frame["stage"] == "parse"
        await ws.send_json({"message": "still there?", "user_id": "enzo"})
        while (frame := await ws.receive_json(timeout=10))["type"] == "token":
            pass
        assert frame["type"] == "done"
