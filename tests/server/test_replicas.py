"""Two real ``jarvis serve`` replicas sharing one real Redis (``REDIS_URL``): limits and
conversations span both, and a Redis crash neither stops them nor needs them restarted."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from support.jarvis_server import JarvisProcess, sample, start_jarvis_serve

pytestmark = pytest.mark.timeout(120)


class Replica:
    def __init__(self, name: str, process: JarvisProcess, session: aiohttp.ClientSession):
        self.name = name
        self.process = process
        self.session = session

    async def chat(self, user_id: str, message: str = "hi") -> tuple[int, dict[str, Any]]:
        async with self.session.post(
            self.process.url + "/chat", json={"message": message, "user_id": user_id}
        ) as response:
            return response.status, await response.json(content_type=None)

    async def health(self) -> tuple[int, dict[str, Any]]:
        async with self.session.get(self.process.url + "/health") as response:
            return response.status, await response.json()

    async def metrics(self) -> str:
        async with self.session.get(self.process.url + "/metrics") as response:
            return await response.text()

    def log_lines(self, action: str) -> list[dict[str, Any]]:
        return [line for line in self.process.logs() if line.get("action") == action]


async def eventually(check: Callable[[], Awaitable[bool]], timeout: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not await check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.1)


@pytest.fixture
async def replicas(tmp_path: Path, redis_server, fake_ollama) -> AsyncIterator[list[Replica]]:
    """Replicas A and B: the fake Ollama as model, a user's burst of 5 refilled at one a
    minute, health probed five times a second."""
    env = {
        "REDIS_URL": redis_server.url,
        "REDIS_TIMEOUT": "0.5",
        "JARVIS_LLM": "ollama",
        "OLLAMA_URL": fake_ollama.url,
        "OLLAMA_MODEL": "llama3.2:latest",
        "RATE_LIMIT_BURST": "5",
        "RATE_LIMIT_PER_MINUTE": "1",
        "HEALTH_INTERVAL": "0.2",
        "HEALTH_TIMEOUT": "1",
    }
    processes = []
    for name in ("a", "b"):
        workdir = tmp_path / name
        workdir.mkdir()
        processes.append(await start_jarvis_serve(workdir, env))
    async with aiohttp.ClientSession() as session:
        try:
            yield [Replica(name, p, session) for name, p in zip("AB", processes, strict=True)]
        finally:
            for process in processes:
                await process.terminate()


async def test_a_users_limit_holds_across_replicas(replicas):
    a, b = replicas
    statuses = [(await a.chat("enzo"))[0] for _ in range(3)]
    statuses += [(await b.chat("enzo"))[0] for _ in range(3)]
    assert statuses == [200] * 5 + [429]
    text = await b.metrics()
    assert sample(text, "rate_limit_hits_total", endpoint="/chat", client_type="user") == 1
    assert (await a.chat("someone-else"))[0] == 200


async def test_a_conversation_started_on_one_replica_continues_on_the_other(replicas, fake_ollama):
    a, b = replicas
    answer = fake_ollama.answer
    status, body = await a.chat("enzo", "Je m'appelle Enzo.")
    assert (status, body["response"]) == (200, answer)
    assert (await b.chat("enzo", "Comment je m'appelle ?"))[0] == 200
    assert fake_ollama.chat_requests()[-1].body["messages"] == [
        {"role": "user", "content": "Je m'appelle Enzo."},
        {"role": "assistant", "content": answer},
        {"role": "user", "content": "Comment je m'appelle ?"},
    ]
    assert (await a.chat("enzo", "Et encore ?"))[0] == 200
    assert len(fake_ollama.chat_requests()[-1].body["messages"]) == 5


async def test_redis_killed_then_restarted_under_two_replicas(replicas, redis_server):
    a, b = replicas
    assert [(await a.chat("eve"))[0] for _ in range(5)] == [200] * 5
    assert (await b.chat("eve"))[0] == 429, "eve's burst is spent, on both replicas"

    redis_server.kill()

    async def redis_down_everywhere() -> bool:
        reports = [await replica.health() for replica in replicas]
        return all(body["services"]["redis"]["status"] == "down" for _, body in reports)

    await eventually(redis_down_everywhere)
    for replica in replicas:
        status, body = await replica.health()
        assert status == 503 and body["status"] == "unhealthy", replica.name
        assert body["services"]["memory"]["status"] == "down"
        # Limits fail open: eve is not refused for her spent burst, her chats fail on memory.
        for _ in range(3):
            status, body = await replica.chat("eve")
            assert (status, body["stage"]) == (503, "memory"), replica.name
        text = await replica.metrics()
        assert sample(text, "rate_limit_backend_errors_total") == 3
        assert sample(text, "chat_errors_total", stage="memory") == 3
        assert sample(text, "memory_operations_total", operation="load", status="error") == 3
        assert sample(text, "service_health_status", service="redis") == 0
        assert replica.process.process.returncode is None, f"{replica.name} stays up"
    await asyncio.sleep(0.3)  # the log writer's linger
    for replica in replicas:
        [failed_open] = replica.log_lines("rate_limit_failed_open")
        assert failed_open["level"] == "ERROR", "once per window, not once per chat"

    await redis_server.restart()
    # No replica restarted: the first chat after Redis is back is answered (the new Redis is
    # empty: this one keeps nothing on disk, so eve's bucket is full again).
    assert (await a.chat("eve"))[0] == 200
    assert (await b.chat("eve"))[0] == 200

    async def healthy_everywhere() -> bool:
        return [(await replica.health())[0] for replica in replicas] == [200, 200]

    await eventually(healthy_everywhere)
    statuses = [(await b.chat("eve"))[0] for _ in range(4)]
    assert statuses == [200, 200, 200, 429], "limits hold again"
