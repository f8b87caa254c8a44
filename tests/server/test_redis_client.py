"""The Redis client: how long a Redis that hangs can hold a chat, and its URL as logs show it."""

from __future__ import annotations

import asyncio
import time

import pytest

from jarvis.redis_client import shown_redis_url


@pytest.mark.timeout(60)
async def test_a_hung_redis_delays_a_chat_by_its_timeouts_and_blocks_nothing_else(
    jarvis_server, redis_server
):
    """Limits wait one ``REDIS_TIMEOUT`` then fail open, memory waits one more then fails:
    a timed-out command is not tried again. Meanwhile the server answers everything else."""
    server = await jarvis_server(redis_url=redis_server.url, redis_timeout=0.5)
    redis_server.pause()

    async def chat() -> tuple[int, str, float]:
        started = time.perf_counter()
        async with server.session.post(
            server.url + "/chat", json={"message": "hi", "user_id": "enzo"}
        ) as response:
            body = await response.json()
        return response.status, body["stage"], time.perf_counter() - started

    waiting = asyncio.create_task(chat())
    await asyncio.sleep(0.1)
    started = time.perf_counter()
    async with server.session.get(server.url + "/metrics") as response:
        assert response.status == 200
    assert time.perf_counter() - started < 0.2, "the event loop is free while Redis hangs"
    status, stage, seconds = await waiting
    assert (status, stage) == (503, "memory")
    assert 0.9 < seconds < 1.5
    redis_server.resume()
    async with server.session.post(
        server.url + "/chat", json={"message": "hi", "user_id": "enzo"}
    ) as response:
        assert response.status == 200


def test_the_shown_url_keeps_host_port_and_database_but_no_password():
    assert shown_redis_url("redis://:hunter2@redis:6379/0") == "redis://redis:6379/0"
    assert (
        shown_redis_url("rediss://user:pw@cache.example:6380/2") == "rediss://cache.example:6380/2"
    )
    assert shown_redis_url("unix:///run/redis.sock?db=1") == "unix:///run/redis.sock?db=1"
    assert shown_redis_url("unix://:pw@/run/redis.sock") == "unix:///run/redis.sock"
