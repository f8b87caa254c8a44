"""GET /health reports each dependency; probes run in the background and feed the metrics."""

from __future__ import annotations

import asyncio

from support.fake_ollama import Behaviour
from support.jarvis_server import free_port, sample, start_with_ollama

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


async def test_with_redis_it_is_a_dependency_and_its_outage_takes_memory_down(
    jarvis_server, redis_server
):
    server = await jarvis_server(redis_url=redis_server.url, redis_timeout=0.5)
    async with server.session.get(server.url + "/health") as response:
        body = await response.json()
    assert response.status == 200 and body["status"] == "healthy"
    assert body["services"]["redis"]["status"] == "up"
    assert body["services"]["redis"]["critical"] is False
    assert sample(await server.metrics_text(), "service_health_status", service="redis") == 1

    redis_server.kill()
    await server.app[HEALTH].check_all()
    async with server.session.get(server.url + "/health") as response:
        body = await response.json()
    # Memory lives in Redis: without it no chat can be answered, hence 503.
    assert response.status == 503 and body["status"] == "unhealthy"
    assert body["services"]["redis"]["status"] == "down"
    assert body["services"]["memory"]["status"] == "down"
    assert "connecting to 127.0.0.1" in body["services"]["redis"]["error"]
    text = await server.metrics_text()
    assert sample(text, "service_health_status", service="redis") == 0

    await redis_server.restart()
    await server.app[HEALTH].check_all()
    async with server.session.get(server.url + "/health") as response:
        assert response.status == 200
    assert sample(await server.metrics_text(), "service_health_status", service="redis") == 1


async def test_the_server_starts_while_redis_is_down_and_says_so(jarvis_server):
    nobody_listens = f"redis://127.0.0.1:{free_port()}/0"
    server = await jarvis_server(redis_url=nobody_listens, redis_timeout=0.5)
    async with server.session.get(server.url + "/health") as response:
        body = await response.json()
    assert response.status == 503
    assert body["services"]["redis"]["status"] == "down"
    async with server.session.post(
        server.url + "/chat", json={"message": "hi", "user_id": "enzo"}
    ) as response:
        assert response.status == 503
        assert (await response.json())["stage"] == "memory"
