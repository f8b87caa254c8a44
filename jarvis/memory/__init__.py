"""Conversation memory: each user's recent messages, in an embedded SQLite file
(``sqlite_store``, the default) or in Redis, shared by every replica (``redis_store``). Both keep
the promises of ``ConversationMemory`` and count every operation in
``memory_operations_total{operation,status}``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Protocol

from jarvis.metrics import Metrics


class MemoryStoreError(Exception):
    """The conversation store could not be read or written; the cause is chained."""


class ConversationMemory(Protocol):
    """Per-user message history, pruned to each user's last ``max_turns`` messages."""

    async def history(self, user_id: str) -> list[dict[str, str]]:
        """The user's last messages, oldest first, as Ollama message dicts."""
        ...

    async def save_turn(self, user_id: str, question: str, answer: str) -> None:
        """Store a question and its answer together: both or neither, so the history never
        holds a question without its answer."""
        ...

    async def ping(self) -> None:
        """Return when the store answers; raise MemoryStoreError if not."""
        ...

    async def close(self) -> None:
        """Let go of the store; later calls raise MemoryStoreError. Safe to call twice."""
        ...


@asynccontextmanager
async def counted_operation(
    metrics: Metrics, operation: str, failures: tuple[type[Exception], ...]
) -> AsyncIterator[None]:
    """Count ``operation`` ok or error, and turn ``failures`` into MemoryStoreError."""
    counter = metrics.memory_operations_total
    try:
        yield
    except MemoryStoreError:
        counter.inc({"operation": operation, "status": "error"})
        raise
    except failures as exc:
        counter.inc({"operation": operation, "status": "error"})
        raise MemoryStoreError(f"conversation memory {operation} failed: {exc}") from exc
    counter.inc({"operation": operation, "status": "ok"})
