"""Conversation memory in a real Redis: a list per user, a turn written whole, trimmed, shared
by every client of the same Redis, and failing as the SQLite store fails while Redis is down."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from jarvis.memory import MemoryStoreError
from jarvis.memory.redis_store import RedisMemory
from jarvis.metrics import Metrics
from jarvis.redis_client import create_redis_client
from jarvis.settings import Settings

pytestmark = pytest.mark.timeout(30)


@pytest.fixture
def metrics() -> Metrics:
    return Metrics.create()


@pytest.fixture
async def redis(redis_server) -> AsyncIterator[Redis]:
    client = create_redis_client(Settings(redis_url=redis_server.url, redis_timeout=0.5))
    yield client
    await client.aclose()


@pytest.fixture
def memory(redis, metrics) -> RedisMemory:
    return RedisMemory(redis, 6, metrics)


def count(metrics: Metrics, operation: str, status: str) -> float:
    return metrics.memory_operations_total.get({"operation": operation, "status": status})


async def test_round_trip_keeps_roles_and_contents(memory):
    await memory.save_turn("alice", "Bonjour Jarvis", "Bonjour ! Comment puis-je aider ?")
    assert await memory.history("alice") == [
        {"role": "user", "content": "Bonjour Jarvis"},
        {"role": "assistant", "content": "Bonjour ! Comment puis-je aider ?"},
    ]
    assert await memory.history("nobody") == []


async def test_history_is_oldest_first_and_trimmed_in_redis_too(memory, redis):
    sent = [f"message {i}" for i in range(10)]
    for question, answer in zip(sent[::2], sent[1::2], strict=True):
        await memory.save_turn("bob", question, answer)
    assert [m["content"] for m in await memory.history("bob")] == sent[-6:]
    assert await redis.llen("jarvis:memory:bob") == 6


async def test_users_do_not_see_each_other(memory):
    await memory.save_turn("alice", "secret of alice", "noted, alice")
    await memory.save_turn("bob", "secret of bob", "noted, bob")
    assert [m["content"] for m in await memory.history("alice")] == [
        "secret of alice",
        "noted, alice",
    ]


async def test_two_replicas_share_one_conversation(redis_server, memory):
    """Another client of the same Redis (another replica) sees the turns and adds to them."""
    other_client = create_redis_client(Settings(redis_url=redis_server.url))
    other = RedisMemory(other_client, 6, Metrics.create())
    try:
        await memory.save_turn("carol", "on replica A", "answered by A")
        await other.save_turn("carol", "on replica B", "answered by B")
        assert await memory.history("carol") == await other.history("carol")
        assert [m["content"] for m in await memory.history("carol")] == [
            "on replica A",
            "answered by A",
            "on replica B",
            "answered by B",
        ]
    finally:
        await other_client.aclose()


async def test_readers_never_see_a_question_without_its_answer(memory, metrics):
    """Many saves and reads at once, as from many replicas: every history read is whole
    turns, each answer right after its question."""

    async def save(i: int) -> None:
        await memory.save_turn("dave", f"q{i}", f"a{i}")

    async def read() -> list[dict[str, str]]:
        return await memory.history("dave")

    results = await asyncio.gather(*(op for i in range(200) for op in (save(i), read())))
    for history in [r for r in results if r is not None]:
        assert len(history) % 2 == 0
        for question, answer in zip(history[::2], history[1::2], strict=True):
            assert question["role"] == "user" and answer["role"] == "assistant"
            assert answer["content"] == "a" + question["content"][1:]
    assert count(metrics, "save", "ok") == 200


async def test_operations_are_counted_ok(memory, metrics):
    await memory.save_turn("gina", "hello", "hi")
    await memory.history("gina")
    await memory.ping()
    assert [count(metrics, op, "ok") for op in ("save", "load", "ping")] == [1, 1, 1]
    assert all(count(metrics, op, "error") == 0 for op in ("load", "save", "ping"))


async def test_redis_down_is_a_counted_store_error_until_it_is_back(redis_server, memory, metrics):
    await memory.save_turn("henry", "before", "the crash")
    redis_server.kill()
    with pytest.raises(MemoryStoreError) as caught:
        await memory.history("henry")
    assert caught.value.__cause__ is not None
    with pytest.raises(MemoryStoreError):
        await memory.save_turn("henry", "during", "the outage")
    with pytest.raises(MemoryStoreError):
        await memory.ping()
    assert [count(metrics, op, "error") for op in ("load", "save", "ping")] == [1, 1, 1]
    await redis_server.restart()
    # The same client reconnects by itself; this Redis kept nothing (no persistence here).
    assert await memory.history("henry") == []
    await memory.save_turn("henry", "after", "the restart")
    assert len(await memory.history("henry")) == 2


async def test_a_message_that_is_not_json_is_a_store_error(memory, redis, metrics):
    await redis.rpush("jarvis:memory:ivy", b"written by someone else")
    with pytest.raises(MemoryStoreError):
        await memory.history("ivy")
    assert count(metrics, "load", "error") == 1


async def test_a_closed_store_raises(memory, metrics):
    await memory.close()
    await memory.close()
    with pytest.raises(MemoryStoreError, match="closed"):
        await memory.history("jack")
    with pytest.raises(MemoryStoreError, match="closed"):
        await memory.save_turn("jack", "hello", "hi")
    assert count(metrics, "load", "error") == 1


async def test_a_restart_between_two_operations_goes_unnoticed(redis_server, memory, metrics):
    """The pooled connection is broken by the restart; the client retries once, at once, on
    a new one, so no chat pays for it."""
    await memory.save_turn("kate", "before", "the restart")
    redis_server.kill()
    await redis_server.restart()
    assert await memory.history("kate") == []
    assert count(metrics, "load", "error") == 0
