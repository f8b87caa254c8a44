"""Conversation memory in an embedded SQLite file: the store of a single server."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import aiosqlite

from jarvis.memory import MemoryStoreError, counted_operation
from jarvis.metrics import Metrics

_SCHEMA = """
CREATE TABLE IF NOT EXISTS messages (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id TEXT NOT NULL,
    role TEXT NOT NULL,
    content TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS messages_by_user ON messages (user_id, id);
"""


class SqliteMemory:
    """Per-user message history, pruned to the last ``max_turns`` messages of each user
    (a ``ConversationMemory``)."""

    def __init__(self, db: aiosqlite.Connection, max_turns: int, metrics: Metrics) -> None:
        self._db: aiosqlite.Connection | None = db
        self._max_turns = max_turns
        self._metrics = metrics
        # A save is an insert then a prune; the lock keeps one caller's commit or rollback
        # from sweeping up another caller's half-done save on the shared connection.
        self._write_lock = asyncio.Lock()

    @classmethod
    async def open(cls, path: str, max_turns: int, metrics: Metrics) -> SqliteMemory:
        """Open (creating if needed) the store at ``path`` (``":memory:"`` for a private one).

        Raises MemoryStoreError, naming the path, when the file cannot be opened or is not
        an SQLite database.
        """
        if max_turns < 1:
            raise ValueError(f"max_turns must be at least 1, not {max_turns}")
        try:
            # Checked first with plain sqlite3 because aiosqlite, when its connect fails,
            # leaves its worker thread to finish after the caller may have closed the loop.
            await asyncio.get_running_loop().run_in_executor(None, _check_openable, path)
            db = await aiosqlite.connect(path)
        except sqlite3.Error as exc:
            raise MemoryStoreError(f"cannot open conversation memory {path!r}: {exc}") from exc
        try:
            await db.execute("PRAGMA journal_mode=WAL")
            # WAL with synchronous=NORMAL may lose the last turns on power loss, never corrupt
            # the file: acceptable for chat history, and it spares an fsync per message.
            await db.execute("PRAGMA synchronous=NORMAL")
            await db.executescript(_SCHEMA)
            await db.commit()
        except sqlite3.Error as exc:
            await db.close()
            raise MemoryStoreError(f"cannot use conversation memory {path!r}: {exc}") from exc
        return cls(db, max_turns, metrics)

    async def history(self, user_id: str) -> list[dict[str, str]]:
        """The user's last ``max_turns`` messages, oldest first, as Ollama message dicts."""
        async with self._counted("load") as db:
            cursor = await db.execute(
                "SELECT role, content FROM ("
                " SELECT id, role, content FROM messages WHERE user_id = ?"
                " ORDER BY id DESC LIMIT ?"
                ") ORDER BY id",
                (user_id, self._max_turns),
            )
            rows = await cursor.fetchall()
            await cursor.close()
        return [{"role": role, "content": content} for role, content in rows]

    async def save_turn(self, user_id: str, question: str, answer: str) -> None:
        """Store a question and its answer together: both or neither, so the history never
        holds a question without its answer. Then forget the user's messages beyond
        ``max_turns``."""
        async with self._write_lock, self._counted("save") as db:
            try:
                await db.executemany(
                    "INSERT INTO messages (user_id, role, content) VALUES (?, ?, ?)",
                    [(user_id, "user", question), (user_id, "assistant", answer)],
                )
                await db.execute(
                    "DELETE FROM messages WHERE user_id = ? AND id <= ("
                    " SELECT id FROM messages WHERE user_id = ?"
                    " ORDER BY id DESC LIMIT 1 OFFSET ?)",
                    (user_id, user_id, self._max_turns),
                )
                await db.commit()
            except sqlite3.Error:
                await db.rollback()
                raise

    async def ping(self) -> None:
        """Return when the store answers a trivial query; raise MemoryStoreError if not."""
        async with self._counted("ping") as db:
            cursor = await db.execute("SELECT 1")
            await cursor.fetchone()
            await cursor.close()

    async def close(self) -> None:
        """Close the file; later calls raise MemoryStoreError. Safe to call twice."""
        db, self._db = self._db, None
        if db is not None:
            await db.close()

    @asynccontextmanager
    async def _counted(self, operation: str) -> AsyncIterator[aiosqlite.Connection]:
        """Count the operation ok or error, and turn store failures into MemoryStoreError
        (aiosqlite raises ValueError when its connection is gone)."""
        async with counted_operation(self._metrics, operation, (sqlite3.Error, ValueError)):
            if self._db is None:
                raise MemoryStoreError("conversation memory is closed")
            yield self._db


def _check_openable(path: str) -> None:
    sqlite3.connect(path).close()
