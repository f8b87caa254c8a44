"""What a client can put on the wire that no well-behaved one would: each request is still
answered, logged once and counted, and nothing it sent breaks a line."""

from __future__ import annotations

import asyncio
import re

from support.jarvis_server import sample


async def _raw_exchange(url: str, request: bytes) -> bytes:
    """Send ``request`` as it is on a new connection; what the server answered."""
    host, port = url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(request)
    await writer.drain()
    head = await reader.readuntil(b"\r\n\r\n")
    writer.close()
    return head


async def test_undecodable_user_agent_bytes_still_give_one_access_line(jarvis_server):
    """aiohttp keeps bytes that are not UTF-8 as lone surrogates, which no JSON encoder takes:
    the line is written with them escaped instead of being lost."""
    server = await jarvis_server()
    head = await _raw_exchange(
        server.url, b"GET /health HTTP/1.1\r\nHost: x\r\nUser-Agent: bot\xff\xfe/1\r\n\r\n"
    )
    assert head.startswith(b"HTTP/1.1 200")
    request_id = head.split(b"X-Request-ID: ")[1].split(b"\r\n")[0].decode()
    access = await server.wait_for_log(lambda line: line.get("request_id") == request_id)
    assert access["status"] == 200
    assert access["user_agent"].startswith("bot") and access["user_agent"].endswith("/1")
    assert "\\udcff" in access["user_agent"], "the odd bytes are shown, not dropped"
    assert not [line for line in server.logs() if line.get("level") == "ERROR"]


async def test_a_path_of_undecodable_bytes_is_logged_and_counted_as_unmatched(jarvis_server):
    server = await jarvis_server()
    head = await _raw_exchange(server.url, b"GET /p%ED%A0%80%FF HTTP/1.1\r\nHost: x\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 404")
    access = await server.wait_for_log(lambda line: line.get("status") == 404)
    assert access["route"] == "unmatched"
    text = await server.metrics_text()
    assert sample(text, "http_requests_total", method="GET", route="unmatched", status="404") == 1


async def test_malformed_http_is_answered_400_logged_and_counted(jarvis_server):
    """aiohttp refuses it before any middleware runs: no request ID to give, but the access
    line and the request metrics still see it."""
    server = await jarvis_server()
    head = await _raw_exchange(server.url, b"GET /health HTTP/1.1\r\nHost x\r\n\r\n")
    assert head.split(b" ")[1] == b"400"
    access = await server.wait_for_log(lambda line: line.get("status") == 400)
    assert access["route"] == "unmatched" and "request_id" not in access
    text = await server.metrics_text()
    assert sample(text, "http_requests_total", method="OTHER", route="unmatched", status="400") == 1


async def test_invented_methods_never_become_label_values(jarvis_server):
    """Every distinct method a client makes up would otherwise be a new series."""
    server = await jarvis_server()
    for method in ("BREW", "WHEN", "PROPFIND", "X" * 40):
        async with server.session.request(method, server.url + "/health") as response:
            assert response.status in (400, 405)
    text = await server.metrics_text()
    methods = set(re.findall(r'^http_requests_total\{method="([^"]*)"', text, re.M))
    assert "OTHER" in methods
    assert methods <= {"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "OTHER"}


async def test_requests_are_counted_whatever_the_log_level(jarvis_server):
    """The access line follows LOG_LEVEL; the request metrics do not."""
    server = await jarvis_server(log_level="WARNING")
    for _ in range(3):
        async with server.session.get(server.url + "/health") as response:
            assert response.status == 200
    text = await server.metrics_text()
    assert sample(text, "http_requests_total", method="GET", route="/health", status="200") == 3
    assert not [line for line in server.logs() if line.get("action") == "http_access"]
