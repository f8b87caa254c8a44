"""Conversation memory in Redis, shared by every replica: a conversation started on one
continues on another."""

from __future__ import annotations

import orjson
from redis.asyncio import Redis
from redis.exceptions import RedisError

from jarvis.memory import ChatHistory, CountedOperations, MemoryStoreError
from jarvis.metrics import Metrics

# A stored message that is not JSON (written by someone else) fails the load, as an SQLite
# row would that could not be read: orjson's decode error is a ValueError.
_FAILURES = (RedisError, ValueError)


class RedisMemory:
    """Each user's messages are a Redis list of JSON ``{"role", "content"}`` objects, oldest
    first, trimmed to the last ``max_turns`` (a ``ConversationMemory``). The client belongs to
    the caller, who closes it; it reconnects by itself when Redis comes back."""

    def __init__(
        self, client: Redis, max_turns: int, metrics: Metrics, prefix: str = "jarvis:memory:"
    ) -> None:
        if max_turns < 1:
            raise ValueError(f"max_turns must be at least 1, not {max_turns}")
        self._client: Redis | None = client
        self._max_turns = max_turns
        self._counted = CountedOperations(metrics, _FAILURES)
        self._prefix = prefix

    async def history(self, user_id: str) -> ChatHistory:
        """The user's last ``max_turns`` messages, oldest first, as Ollama message dicts."""
        with self._counted.load:
            stored = await self._open().lrange(self._prefix + user_id, -self._max_turns, -1)
            messages = [orjson.loads(item) for item in stored]
        return [{"role": m["role"], "content": m["content"]} for m in messages]

    async def save_turn(self, user_id: str, question: str, answer: str) -> None:
        """Append a question and its answer in one MULTI/EXEC transaction, so no reader, on
        any replica, sees one without the other, and a failure stores neither; the same
        transaction trims the list to ``max_turns``."""
        key = self._prefix + user_id
        with self._counted.save:
            async with self._open().pipeline(transaction=True) as transaction:
                transaction.rpush(
                    key,
                    orjson.dumps({"role": "user", "content": question}),
                    orjson.dumps({"role": "assistant", "content": answer}),
                )
                transaction.ltrim(key, -self._max_turns, -1)
                await transaction.execute()

    async def ping(self) -> None:
        """Return when Redis answers PING; raise MemoryStoreError if not."""
        with self._counted.ping:
            await self._open().ping()

    async def close(self) -> None:
        """Stop using the client (its owner closes it); later calls raise MemoryStoreError."""
        self._client = None

    def _open(self) -> Redis:
        if self._client is None:
            raise MemoryStoreError("conversation memory is closed")
        return self._client
