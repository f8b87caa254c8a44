"""One JSON access-log line per HTTP request, wired by create_app itself."""

from __future__ import annotations


async def test_the_access_log_has_method_path_status_duration_bytes_and_client(jarvis_server):
    """The server runs under a runner given no logging arguments: create_app wires the log."""
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
