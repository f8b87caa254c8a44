"""GET /health reports each dependency; probes run in the background and feed the metrics."""

from __future__ import annotations

import asyncio

from support.fake_ollama import Behaviour
from support.jarvis_server import sample, start_with_ollama

from jarvis.web.keys import HEALTH


async def test_healthy_when_every_dependency_answers(jarvis_server, fake_ollama):
    server = await start_with_ollama(jarvis_server, fake_ollama)
    async with server.session.get(server.url + "/health") as response:
        assert response.status == 200
        body = await response.json()
    assert body["status"] == "healthy"
    assert set(body["services"]) == {"ollama", "memory", "log_sink"}
    for service in body["services"].values():
        assert service["status"] == "up"
        assert service["latency_ms"] >= 0
    assert any(r.path == "/api/version" for r in fake_ollama.requests)


async def test_503_when_ollama_is_down_and_the_gauge_says_so(jarvis_server, fake_ollama):
    server = await start_with_ollama(jarvis_server, fake_ollama, health_timeout=0.5)
    fake_ollama.set_behaviour(Behaviour.HTTP_500)
    await server.app[HEALTH].check_all()
    async with server.session.get(server.url + "/health") as response:
        assert response.status == 503
        body = await response.json()
    assert body["status"] == "unhealthy"
    assert body["services"]["ollama"]["status"] == "down"
    assert body["services"]["ollama"]["error"]
    assert body["services"]["memory"]["status"] == "up"
    text = await server.metrics_text()
    assert sample(text, "service_health_status", service="ollama") == 0
    assert sample(text, "service_response_seconds_count", service="ollama") == 2
    change = await server.wait_for_log(
        lambda line: line.get("action") == "health_change" and line["health"] == "down"
    )
    assert change["service"] == "ollama" and change["level"] == "ERROR"

    fake_ollama.set_behaviour(Behaviour.HANG)
    await server.app[HEALTH].check_all()
    async with server.session.get(server.url + "/health") as response:
        assert "0.5s" in (await response.json())["services"]["ollama"]["error"]

    fake_ollama.set_behaviour(Behaviour.NORMAL)
    await server.app[HEALTH].check_all()
    async with server.session.get(server.url + "/health") as response:
        assert response.status == 200
    assert sample(await server.metrics_text(), "service_health_status", service="ollama") == 1


async def test_probes_run_in_the_background_on_their_interval(jarvis_server, fake_ollama):
    server = await start_with_ollama(jarvis_server, fake_ollama, health_interval=0.05)
    await asyncio.sleep(0.5)
    probes = [r for r in fake_ollama.requests if r.path == "/api/version"]
    assert len(probes) >= 3
    count = sample(await server.metrics_text(), "service_response_seconds_count", service="memory")
    assert count is not None and count >= 3
