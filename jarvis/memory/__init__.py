"""Conversation memory: each user's recent messages, in an embedded SQLite file
(``sqlite_store``, the default) or in Redis, shared by every replica (``redis_store``). Both keep
the promises of ``ConversationMemory`` and count every operation in
``memory_operations_total{operation,status}``."""

from __future__ import annotations

from collections.abc import Mapping
from types import TracebackType
from typing import Protocol

from jarvis.metrics import CounterSeries, Metrics


class MemoryStoreError(Exception):
    """The conversation store could not be read or written; the cause is chained."""


# A user's messages, oldest first, as Ollama message dicts. The list is the caller's; the
# messages may be the ones a store holds (``SqliteMemory``'s in-process copy), so they are
# read-only: copying them for every turn cost some 10% of a chat's CPU.
ChatHistory = list[Mapping[str, str]]


class ConversationMemory(Protocol):
    """Per-user message history, pruned to each user's last ``max_turns`` messages."""

    async def history(self, user_id: str) -> ChatHistory:
        """The user's last messages, oldest first, as Ollama message dicts (``ChatHistory``:
        the list is the caller's, the messages read-only)."""
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


class CountedOperation:
    """``with`` it around one ``operation`` of a store: counts it in
    ``memory_operations_total{operation,status}``, ok or error, and turns the store's own
    ``failures`` into MemoryStoreError (the cause chained). Anything else (a cancellation)
    goes through uncounted. Its series are bound once: every chat turn loads and saves."""

    __slots__ = ("_error", "_failures", "_ok", "_operation")

    def __init__(
        self, metrics: Metrics, operation: str, failures: tuple[type[Exception], ...]
    ) -> None:
        counter = metrics.memory_operations_total
        self._ok = CounterSeries(counter, {"operation": operation, "status": "ok"})
        self._error = CounterSeries(counter, {"operation": operation, "status": "error"})
        self._operation = operation
        self._failures = failures

    def __enter__(self) -> None:
        return None

    def succeeded(self) -> None:
        """Count one operation that could not fail, as leaving the ``with`` would."""
        self._ok.inc()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if exc is None:
            self._ok.inc()
        elif isinstance(exc, MemoryStoreError):
            self._error.inc()
        elif isinstance(exc, self._failures):
            self._error.inc()
            raise MemoryStoreError(f"conversation memory {self._operation} failed: {exc}") from exc


class CountedOperations:
    """The ``CountedOperation`` of each operation of a store."""

    def __init__(self, metrics: Metrics, failures: tuple[type[Exception], ...]) -> None:
        self.load = CountedOperation(metrics, "load", failures)
        self.save = CountedOperation(metrics, "save", failures)
        self.ping = CountedOperation(metrics, "ping", failures)
