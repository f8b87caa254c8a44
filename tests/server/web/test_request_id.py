"""Every response carries an X-Request-ID, and every log line of the request carries it too."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import re
import sys
import threading
import uuid

import pytest
from aiohttp import web

from jarvis.app import create_app
from jarvis.request_context import get_request_id, new_uuid4
from jarvis.settings import Settings
from jarvis.web.log_context import create_log_context

UUID4 = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")


async def test_a_request_without_an_id_gets_a_fresh_uuid4(jarvis_server):
    server = await jarvis_server()
    async with server.session.get(server.url + "/health") as response:
        request_id = response.headers["X-Request-ID"]
    assert UUID4.fullmatch(request_id)
    assert str(uuid.UUID(request_id)) == request_id


def test_fresh_ids_are_canonical_uuid4_strings_and_never_repeat():
    ids = [new_uuid4() for _ in range(20_000)]
    assert len(set(ids)) == len(ids)
    for request_id in ids[:1000]:
        parsed = uuid.UUID(request_id)
        assert str(parsed) == request_id
        assert parsed.version == 4 and parsed.variant == uuid.RFC_4122


def test_threads_drawing_ids_at_once_never_get_the_same_one():
    """IDs are made in batches and handed out from a shared list: a thread that finds it
    empty gets an ID all the same (others may empty the batch it just added), and no ID is
    handed out twice. (Taking the ID from the shared list after refilling it failed here
    about one run in three.)"""
    drawn: list[list[str]] = [[] for _ in range(8)]

    def draw(into: list[str]) -> None:
        for _ in range(5_000):
            into.append(new_uuid4())

    threads = [threading.Thread(target=draw, args=(into,)) for into in drawn]
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # threads take turns as often as they can
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        sys.setswitchinterval(interval)
    every = [request_id for ids in drawn for request_id in ids]
    assert len(every) == 40_000 and len(set(every)) == 40_000


def test_a_forked_replica_makes_ids_of_its_own():
    """Replicas forked from one parent (a pre-fork server) must not repeat each other's IDs,
    nor hand out the ones the parent made ahead."""
    new_uuid4()  # the parent has IDs made ahead when it forks
    reader, writer = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover - the child process
        os.close(reader)
        os.write(writer, " ".join(new_uuid4() for _ in range(100)).encode())
        os._exit(0)
    os.close(writer)
    with os.fdopen(reader) as pipe:
        theirs = set(pipe.read().split())
    os.waitpid(child, 0)
    ours = {new_uuid4() for _ in range(100)}
    assert len(theirs) == 100
    assert not ours & theirs


async def test_a_valid_incoming_id_is_kept_and_found_in_every_log_line(jarvis_server):
    server = await jarvis_server()
    request_id = "client-id.42:abc"
    async with server.session.post(
        server.url + "/chat",
        json={"message": "test", "user_id": "enzo"},
        headers={"X-Request-ID": request_id},
    ) as response:
        assert response.headers["X-Request-ID"] == request_id
        body = await response.json()
    assert body["request_id"] == request_id
    access = await server.wait_for_log(lambda line: line.get("action") == "http_access")
    lines = [line for line in server.logs() if line.get("request_id") == request_id]
    actions = [line.get("action") for line in lines]
    assert "chat_request" in actions and "chat_success" in actions
    assert access["request_id"] == request_id


@pytest.mark.parametrize(
    "hostile",
    [
        "x" * 129,
        "abc def",
        'abc"},{"level":"ERROR',
        "évènement",
        "abc\tdef",
        "../../etc/passwd%00",
        "<script>",
    ],
)
async def test_a_hostile_incoming_id_is_replaced_and_never_logged(jarvis_server, hostile):
    server = await jarvis_server()
    async with server.session.get(
        server.url + "/health", headers={"X-Request-ID": hostile}
    ) as response:
        request_id = response.headers["X-Request-ID"]
    assert request_id != hostile
    assert UUID4.fullmatch(request_id)
    rejected = await server.wait_for_log(lambda line: line.get("action") == "request_id_rejected")
    assert rejected["request_id"] == request_id
    assert rejected["rejected_length"] == len(hostile)
    await server.wait_for_log(lambda line: line.get("action") == "http_access")
    assert hostile not in server.log_file.read_text()


async def test_a_newline_in_the_header_cannot_forge_a_log_line(jarvis_server):
    """aiohttp refuses a raw newline in a header before the app runs; the log stays JSONL."""
    server = await jarvis_server()
    host, port = server.url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(
        b"GET /health HTTP/1.1\r\nHost: x\r\n"
        b'X-Request-ID: abc\n{"level":"CRITICAL","message":"forged"}\r\n\r\n'
    )
    await writer.drain()
    status_line = await reader.readline()
    writer.close()
    assert status_line.startswith(b"HTTP/1.") and b" 400 " in status_line
    async with server.session.get(server.url + "/health"):
        pass
    await server.wait_for_log(lambda line: line.get("route") == "/health")
    for line in server.logs():
        assert line.get("message") != "forged"
    refused = next(line for line in server.logs() if line.get("action") == "bad_http_request")
    assert refused["level"] == "WARNING", "client garbage is not a server error"
    assert "traceback" not in refused


async def test_a_custom_header_name_is_honoured(jarvis_server):
    server = await jarvis_server(request_id_header="X-Correlation-ID")
    async with server.session.get(
        server.url + "/health", headers={"X-Correlation-ID": "corr-1"}
    ) as response:
        assert response.headers["X-Correlation-ID"] == "corr-1"
        assert "X-Request-ID" not in response.headers


async def test_404_405_and_413_responses_carry_the_id(jarvis_server):
    server = await jarvis_server(max_body_bytes=1024)
    async with server.session.get(server.url + "/no/such/page") as response:
        assert response.status == 404
        assert (await response.json())["request_id"] == response.headers["X-Request-ID"]
    async with server.session.get(server.url + "/chat") as response:
        assert response.status == 405
        assert (await response.json())["request_id"] == response.headers["X-Request-ID"]
    async with server.session.post(server.url + "/chat", data=b"x" * 4096) as response:
        assert response.status == 413
        assert (await response.json())["request_id"] == response.headers["X-Request-ID"]


async def test_a_405_names_the_methods_the_path_allows_and_head_answers_like_get(jarvis_server):
    server = await jarvis_server()
    async with server.session.put(server.url + "/health") as response:
        assert response.status == 405
        assert set(response.headers["Allow"].split(",")) == {"GET", "HEAD"}
        assert (await response.json())["request_id"] == response.headers["X-Request-ID"]
    async with server.session.head(server.url + "/health") as response:
        assert response.status == 200
        assert UUID4.fullmatch(response.headers["X-Request-ID"])
    access = await server.wait_for_log(lambda line: line.get("method") == "HEAD")
    assert access["route"] == "/health" and access["status"] == 200


async def test_a_redirect_aiohttp_answers_itself_still_carries_the_id(jarvis_server):
    async def moved(request: web.Request) -> web.Response:
        raise web.HTTPFound("/health")

    server = await jarvis_server(routes=[web.get("/old", moved)])
    async with server.session.get(
        server.url + "/old", headers={"X-Request-ID": "moved-1"}, allow_redirects=False
    ) as response:
        assert response.status == 302
        assert response.headers["Location"] == "/health"
        assert response.headers["X-Request-ID"] == "moved-1"


async def test_a_root_route_is_not_shadowed_by_the_catch_all(jarvis_server):
    async def root(request: web.Request) -> web.Response:
        return web.json_response({"root": True})

    server = await jarvis_server(routes=[web.get("/", root)])
    async with server.session.get(server.url + "/") as response:
        assert response.status == 200 and await response.json() == {"root": True}
    async with server.session.get(server.url + "/elsewhere") as response:
        assert response.status == 404


async def test_a_route_added_behind_create_apps_back_is_refused_at_start_up(tmp_path):
    """It would answer without a request ID, an access line or metrics: better not at all."""
    settings = dataclasses.replace(
        Settings(), llm_provider="echo", memory_path=str(tmp_path / "memory.sqlite3")
    )
    app = create_app(settings)

    async def sneaky(request: web.Request) -> web.Response:
        return web.json_response({})

    app.router.add_get("/sneaky", sneaky)
    runner = web.AppRunner(app)
    with pytest.raises(RuntimeError, match=r"would go unobserved.*GET /sneaky"):
        await runner.setup()
    await runner.cleanup()


async def test_an_unhandled_exception_gives_a_500_with_the_id_and_a_logged_traceback(
    jarvis_server,
):
    async def broken(request: web.Request) -> web.Response:
        raise RuntimeError("database on fire")

    routes = [web.get("/broken", broken)]
    server = await jarvis_server(routes=routes)
    async with server.session.get(
        server.url + "/broken", headers={"X-Request-ID": "boom-1"}
    ) as response:
        assert response.status == 500
        assert response.headers["X-Request-ID"] == "boom-1"
        body = await response.json()
    assert body == {"error": "Internal Server Error", "status": 500, "request_id": "boom-1"}
    assert "fire" not in str(body)
    error = await server.wait_for_log(lambda line: line.get("action") == "unhandled_error")
    assert error["request_id"] == "boom-1"
    assert error["level"] == "ERROR"
    assert error["exc_type"] == "RuntimeError"
    assert "database on fire" in error["traceback"]
    assert error["message"] == "unhandled error"
    access = await server.wait_for_log(lambda line: line.get("action") == "http_access")
    assert access["request_id"] == "boom-1" and access["status"] == 500


async def test_the_websocket_upgrade_response_carries_the_id(jarvis_server):
    server = await jarvis_server()
    async with server.session.ws_connect(
        server.url + "/ws", headers={"X-Request-ID": "ws-session-1"}
    ) as ws:
        assert ws._response.headers["X-Request-ID"] == "ws-session-1"
        await ws.send_json({"message": "hi", "user_id": "enzo"})
        frames = []
        while True:
            frame = await ws.receive_json()
            frames.append(frame)
            if frame["type"] == "done":
                break
    assert frames[-1]["request_id"] == "ws-session-1"


async def test_traceparent_is_logged_as_trace_and_span_ids(jarvis_server):
    server = await jarvis_server()
    traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    async with server.session.post(
        server.url + "/chat",
        json={"message": "hi", "user_id": "enzo"},
        headers={"traceparent": traceparent},
    ):
        pass
    success = await server.wait_for_log(lambda line: line.get("action") == "chat_success")
    assert success["trace_id"] == "4bf92f3577b34da6a3ce929d0e0e4736"
    assert success["span_id"] == "00f067aa0ba902b7"
    access = await server.wait_for_log(lambda line: line.get("action") == "http_access")
    assert access["trace_id"] == "4bf92f3577b34da6a3ce929d0e0e4736"


async def test_an_invalid_traceparent_is_ignored(jarvis_server):
    server = await jarvis_server()
    async with server.session.get(
        server.url + "/health", headers={"traceparent": "00-zzz-yyy-01"}
    ) as response:
        assert response.status == 200
    access = await server.wait_for_log(lambda line: line.get("action") == "http_access")
    assert "trace_id" not in access


async def test_helpers_expose_the_current_id_inside_a_handler(jarvis_server):
    seen = {}

    async def inspect(request: web.Request) -> web.Response:
        seen["current"] = get_request_id()
        seen["context"] = create_log_context(request, user_id="enzo", action="chat_success")
        return web.json_response({})

    server = await jarvis_server(routes=[web.get("/inspect", inspect)])
    async with server.session.get(
        server.url + "/inspect", headers={"X-Request-ID": "helper-1"}
    ) as response:
        assert response.status == 200
    assert seen["current"] == "helper-1"
    assert seen["context"] == {
        "request_id": "helper-1",
        "method": "GET",
        "path": "/inspect",
        "user_id": "enzo",
        "action": "chat_success",
    }
    assert get_request_id() is None


async def test_concurrent_requests_keep_their_own_ids(jarvis_server):
    server = await jarvis_server(rate_limit_enabled=False)

    async def one(i: int) -> tuple[str, str]:
        async with server.session.post(
            server.url + "/chat",
            json={"message": f"m{i}", "user_id": f"user{i}"},
            headers={"X-Request-ID": f"req-{i}"},
        ) as response:
            return response.headers["X-Request-ID"], (await response.json())["request_id"]

    results = await asyncio.gather(*(one(i) for i in range(30)))
    assert results == [(f"req-{i}", f"req-{i}") for i in range(30)]
    await server.wait_for_log(
        lambda line: line.get("request_id") == "req-29" and line.get("action") == "http_access"
    )
    for line in server.logs():
        if line.get("action") == "chat_request":
            assert line["request_id"] == "req-" + line["user_id"].removeprefix("user")
