"""The ten metric families of the spec, with bounded labels, on /metrics."""

from __future__ import annotations

import asyncio
import re

import aiohttp
from support.jarvis_server import sample

FAMILIES = {
    "ws_active_connections": "gauge",
    "ws_connections_total": "counter",
    "ws_messages_total": "counter",
    "chat_requests_total": "counter",
    "chat_errors_total": "counter",
    "llm_generate_seconds": "histogram",
    "memory_operations_total": "counter",
    "service_health_status": "gauge",
    "service_response_seconds": "histogram",
    "rate_limit_hits_total": "counter",
}


async def test_the_seed_grep_shows_every_family_with_its_type(jarvis_server):
    """The seed's step 2: curl /metrics | grep -E "(ws_|chat_|llm_)"."""
    server = await jarvis_server()
    async with server.session.post(
        server.url + "/chat", json={"message": "test", "user_id": "enzo"}
    ):
        pass
    async with server.session.get(server.url + "/metrics") as response:
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        text = await response.text()
    grepped = [line for line in text.splitlines() if re.search(r"(ws_|chat_|llm_)", line)]
    for name in ("ws_active_connections", "ws_connections_total", "ws_messages_total"):
        assert any(line.startswith(name) for line in grepped)
    for name, kind in FAMILIES.items():
        assert f"# TYPE {name} {kind}" in text, name
    assert sample(text, "chat_requests_total", secure="false", status="success") == 1
    assert sample(text, "llm_generate_seconds_count") == 1
    assert sample(text, "memory_operations_total", operation="save", status="ok") == 1
    assert sample(text, "memory_operations_total", operation="load", status="ok") == 1
    assert sample(text, "service_health_status", service="memory") == 1
    assert sample(text, "service_response_seconds_count", service="memory") == 1


async def test_route_labels_are_templates_and_unknown_paths_are_one_value(jarvis_server):
    server = await jarvis_server()
    for i in range(25):
        async with server.session.get(f"{server.url}/users/{i}/secret-{i}"):
            pass
    async with server.session.request("PROPFIND", server.url + "/health"):
        pass
    async with server.session.get(server.url + "/health"):
        pass
    text = await server.metrics_text()
    routes = set(re.findall(r'http_requests_total\{[^}]*route="([^"]*)"', text))
    assert routes == {"unmatched", "/health"}
    assert sample(text, "http_requests_total", method="GET", route="unmatched", status="404") == 25
    methods = set(re.findall(r'http_requests_total\{method="([^"]*)"', text))
    assert methods == {"GET", "OTHER"}
    assert "secret" not in text


async def test_metrics_can_be_switched_off(jarvis_server):
    server = await jarvis_server(prometheus_metrics=False)
    async with server.session.get(server.url + "/metrics") as response:
        assert response.status == 404


async def test_ws_gauge_returns_to_zero_however_sockets_close(jarvis_server):
    server = await jarvis_server()
    # A clean close, an abrupt TCP drop, and a socket still open at server shutdown.
    clean = await server.session.ws_connect(server.url + "/ws")
    abrupt_session = aiohttp.ClientSession()
    abrupt = await abrupt_session.ws_connect(server.url + "/ws")
    await asyncio.sleep(0.05)
    assert sample(await server.metrics_text(), "ws_active_connections") == 2
    await clean.close()
    abrupt._response.connection.transport.abort()  # type: ignore[union-attr]
    for _ in range(100):
        if sample(await server.metrics_text(), "ws_active_connections") == 0:
            break
        await asyncio.sleep(0.02)
    text = await server.metrics_text()
    assert sample(text, "ws_active_connections") == 0
    assert sample(text, "ws_connections_total", status="accepted") == 2
    assert sample(text, "ws_connections_total", status="closed") == 2
    await abrupt_session.close()

    last = await server.session.ws_connect(server.url + "/ws")
    await asyncio.sleep(0.05)
    assert server.metrics.ws_active_connections.get({}) == 1
    stopping = asyncio.create_task(server.stop())
    message = await last.receive()
    await stopping
    assert server.metrics.ws_active_connections.get({}) == 0
    assert message.type == aiohttp.WSMsgType.CLOSE
    assert last.close_code == 1001


async def test_metrics_render_with_thousands_of_label_sets_stays_valid(jarvis_server):
    """aioprometheus issue 98: a big registry must still render, and others still get served."""
    server = await jarvis_server()
    for i in range(5000):
        server.metrics.http_requests_total.inc(
            {"method": "GET", "route": f"/r{i}", "status": "200"}
        )
        server.metrics.http_request_duration_seconds.observe(
            {"method": "GET", "route": f"/r{i}"}, 0.01
        )
    health = asyncio.create_task(server.session.get(server.url + "/health"))
    text = await server.metrics_text()
    async with await health as response:
        assert response.status == 200
    assert sample(text, "http_requests_total", method="GET", route="/r4999", status="200") == 1
    assert (
        len(re.findall(r"http_request_duration_seconds_count\{[^}]*route=\"/r\d+\"", text)) == 5000
    )


async def test_the_exposition_passes_promtool_and_escapes_label_values(jarvis_server, tmp_path):
    server = await jarvis_server()
    server.metrics.http_requests_total.inc({"method": "GET", "route": 'a"b\\c\nd', "status": "200"})
    async with server.session.post(
        server.url + "/chat", json={"message": "test", "user_id": "enzo"}
    ):
        pass
    text = await server.metrics_text()
    assert 'route="a\\"b\\\\c\\nd"' in text
    promtool = await asyncio.create_subprocess_exec(
        "promtool", "check", "metrics",
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    out, _ = await promtool.communicate(text.encode())
    assert promtool.returncode == 0, out.decode()
