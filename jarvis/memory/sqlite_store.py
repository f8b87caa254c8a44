"""Conversation memory in an embedded SQLite file: the store of a single server.

The file is the source of truth; the last messages of recent users are also held in process
(``RecentHistory``), so most chat turns read their context without leaving the event loop and
pay one thread hop, to save the turn, shared with every other turn of the same group commit
(``SqliteThread``). That copy stays right because this server is the file's only writer: it
holds the file locked while it runs, so a second server given the same file is refused at
start-up; servers sharing their memory use Redis instead.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
from typing import Any

from jarvis.memory import ChatHistory, CountedOperations, MemoryStoreError
from jarvis.memory.recent_history import Message, RecentHistory
from jarvis.memory.sqlite_thread import Job, Ping, ReadHistory, SaveTurn, SqliteThread, Stop
from jarvis.metrics import Metrics

# About how much memory the in-process copy of recent histories may take, all users together.
RECENT_HISTORY_MAX_BYTES = 64 * 1024 * 1024

# sqlite3 raises ValueError for text it cannot encode (a lone surrogate) and
# ProgrammingError, an sqlite3.Error, once the connection is closed.
_FAILURES = (sqlite3.Error, ValueError)


class SqliteMemory:
    """Per-user message history, pruned to the last ``max_turns`` messages of each user
    (a ``ConversationMemory``). No turn waits for a lock held by another: the turns waiting
    to be saved, whoever's they are, are committed together."""

    def __init__(self, max_turns: int, metrics: Metrics) -> None:
        self._counted = CountedOperations(metrics, _FAILURES)
        self._recent = RecentHistory(max_turns, RECENT_HISTORY_MAX_BYTES)
        self._thread: SqliteThread | None = None

    @classmethod
    async def open(cls, path: str, max_turns: int, metrics: Metrics) -> SqliteMemory:
        """Open (creating if needed) the store at ``path`` (``":memory:"`` for a private one).

        Raises MemoryStoreError, naming the path, when the file cannot be opened or is not
        an SQLite database.
        """
        if max_turns < 1:
            raise ValueError(f"max_turns must be at least 1, not {max_turns}")
        memory = cls(max_turns, metrics)
        thread = SqliteThread(path, max_turns, memory._remember)
        try:
            await thread.start()
        except sqlite3.Error as exc:
            why = await asyncio.to_thread(_why_not_opened, path, exc)
            raise MemoryStoreError(f"cannot open conversation memory {path!r}: {why}") from exc
        memory._thread = thread
        return memory

    async def history(self, user_id: str) -> ChatHistory:
        """The user's last ``max_turns`` messages, oldest first (``ChatHistory``: the list is
        the caller's, the messages read-only, most often the very ones held in process)."""
        if self._thread is not None:
            # Most turns: no ``with`` to enter and leave for a read that cannot fail.
            held = self._recent.get(user_id)
            if held is not None:
                self._counted.load.succeeded()
                return held
        with self._counted.load:
            if self._thread is None:
                raise MemoryStoreError("conversation memory is closed")
            messages: ChatHistory = await self._submit(ReadHistory(user_id))
            return messages

    async def save_turn(self, user_id: str, question: str, answer: str) -> None:
        """Store a question and its answer together: both or neither, so the history never
        holds a question without its answer, even if the process is killed. Then forget the
        user's messages beyond ``max_turns``. Returns once committed."""
        with self._counted.save:
            await self._submit(SaveTurn(user_id, question, answer))

    async def ping(self) -> None:
        """Return when the store answers a trivial query; raise MemoryStoreError if not."""
        with self._counted.ping:
            await self._submit(Ping())

    async def close(self) -> None:
        """Finish the operations under way, then close the file; later calls raise
        MemoryStoreError. Safe to call twice."""
        thread, self._thread = self._thread, None
        if thread is not None:
            await thread.submit(Stop())

    def _submit(self, job: Job) -> asyncio.Future[Any]:
        # Not a coroutine: every turn awaits the thread's future directly, one frame less.
        if self._thread is None:
            raise MemoryStoreError("conversation memory is closed")
        return self._thread.submit(job)

    def _remember(
        self,
        committed: list[SaveTurn],
        read: list[tuple[str, list[Message]]],
        failed_users: set[str],
    ) -> None:
        """Keep the held copy equal to the file: commits first, in their order, then the
        histories read after them."""
        for turn in committed:
            self._recent.append(turn.user_id, turn.messages())
        for user_id in failed_users:
            self._recent.forget(user_id)
        for user_id, messages in read:
            self._recent.fill(user_id, messages)


def _why_not_opened(path: str, error: sqlite3.Error) -> str:
    """SQLite's reason, and what it means when SQLite's own words do not say: a lock held
    elsewhere is "database is locked", a read-only volume anything from "unable to open" to
    "disk I/O error"."""
    why = str(error)
    if getattr(error, "sqlite_errorcode", None) == sqlite3.SQLITE_BUSY:
        return why + (
            " (another process holds it, most likely another Jarvis server: one server per"
            " SQLite file; replicas share their memory through REDIS_URL)"
        )
    if path != ":memory:":
        # The file, or the directory it is to be made in.
        target = path if os.path.exists(path) else os.path.dirname(os.path.abspath(path))
        if os.path.exists(target) and not os.access(target, os.W_OK):
            return why + " (not writable: a read-only volume, or no permission)"
    return why
