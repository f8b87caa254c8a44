"""The one thread that owns the SQLite connection of the conversation memory.

Callers on the event loop hand it jobs through a queue and await a future: one thread hop per
operation. It takes every job waiting when it wakes and writes all their turns in one
transaction (group commit), so one commit, and its WAL write, serves many users at once; reads
and pings of the same batch run after that commit. The outcomes come back to the event loop in
one callback per batch, which first tells ``on_committed`` what was stored and read, in the
database's order, then resolves the futures.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import sqlite3
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

Message = dict[str, str]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS messages (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id TEXT NOT NULL,
    role TEXT NOT NULL,
    content TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS messages_by_user ON messages (user_id, id);
"""
_INSERT = "INSERT INTO messages (user_id, role, content) VALUES (?, ?, ?)"
_PRUNE = (
    "DELETE FROM messages WHERE user_id = ? AND id <= ("
    " SELECT id FROM messages WHERE user_id = ? ORDER BY id DESC LIMIT 1 OFFSET ?)"
)
_LAST_MESSAGES = "SELECT role, content FROM messages WHERE user_id = ? ORDER BY id DESC LIMIT ?"


@dataclass
class Job:
    done: asyncio.Future[Any] = field(init=False, repr=False)


@dataclass
class SaveTurn(Job):
    user_id: str
    question: str
    answer: str

    def messages(self) -> list[Message]:
        return [
            {"role": "user", "content": self.question},
            {"role": "assistant", "content": self.answer},
        ]


@dataclass
class ReadHistory(Job):
    user_id: str


@dataclass
class Ping(Job):
    pass


@dataclass
class Stop(Job):
    pass


# Called on the event loop, before any future of the batch is resolved, with the turns
# committed (in commit order), the histories read after that commit, and the users whose
# turns failed (what the database holds for them is worth re-reading).
OnCommitted = Callable[[list[SaveTurn], list[tuple[str, list[Message]]], set[str]], None]


@dataclass
class _Outcome:
    job: Job
    result: Any = None
    error: BaseException | None = None


class SqliteThread:
    """Runs every statement of one SQLite file, in one thread, in the order jobs arrive."""

    def __init__(self, path: str, max_messages: int, on_committed: OnCommitted) -> None:
        self._path = path
        self._max_messages = max_messages
        self._on_committed = on_committed
        self._jobs: queue.SimpleQueue[Job] = queue.SimpleQueue()
        self._loop = asyncio.get_running_loop()
        self._db: sqlite3.Connection | None = None

    async def start(self) -> None:
        """Open the file (creating it and its table if needed) in WAL mode; raise the
        ``sqlite3.Error`` that prevented it."""
        opened: asyncio.Future[None] = self._loop.create_future()
        # A daemon: a server that exits without closing the store must not hang on it; the
        # database stays whole whenever the process ends (each turn is one transaction).
        thread = threading.Thread(
            target=self._run, args=(opened,), name="jarvis-memory-sqlite", daemon=True
        )
        thread.start()
        await opened

    def submit(self, job: Job) -> asyncio.Future[Any]:
        """Queue ``job``; its future resolves once it ran (a turn: once committed)."""
        job.done = self._loop.create_future()
        self._jobs.put(job)
        return job.done

    def _run(self, opened: asyncio.Future[None]) -> None:
        try:
            self._db = _connect(self._path)
        except Exception as exc:  # whatever it is, the opener reports it
            self._loop.call_soon_threadsafe(_settle, opened, None, exc)
            return
        self._loop.call_soon_threadsafe(_settle, opened, None, None)
        stopped = False
        while not stopped:
            batch = [self._jobs.get()]
            while True:
                try:
                    batch.append(self._jobs.get_nowait())
                except queue.Empty:
                    break
            stopped = any(isinstance(job, Stop) for job in batch)
            self._run_batch(batch)

    def _run_batch(self, batch: list[Job]) -> None:
        turns = [job for job in batch if isinstance(job, SaveTurn)]
        outcomes = self._save(turns)
        committed = [o.job for o in outcomes if o.error is None and isinstance(o.job, SaveTurn)]
        failed_users = {
            o.job.user_id for o in outcomes if o.error is not None and isinstance(o.job, SaveTurn)
        }
        read: list[tuple[str, list[Message]]] = []
        for job in batch:
            if isinstance(job, ReadHistory):
                outcome = self._attempt(job, self._read_history, job.user_id)
                if outcome.error is None:
                    read.append((job.user_id, outcome.result))
                outcomes.append(outcome)
            elif isinstance(job, Ping):
                outcomes.append(self._attempt(job, self._ping))
            elif isinstance(job, Stop):
                outcomes.append(self._attempt(job, self._close))
        try:
            self._loop.call_soon_threadsafe(self._deliver, outcomes, committed, read, failed_users)
        except RuntimeError:
            pass  # the event loop is closed: nobody is waiting any more

    def _deliver(
        self,
        outcomes: list[_Outcome],
        committed: list[SaveTurn],
        read: list[tuple[str, list[Message]]],
        failed_users: set[str],
    ) -> None:
        try:
            self._on_committed(committed, read, failed_users)
        finally:
            for outcome in outcomes:
                _settle(outcome.job.done, outcome.result, outcome.error)

    def _save(self, turns: list[SaveTurn]) -> list[_Outcome]:
        """Commit ``turns`` together; if that fails, each in its own transaction, so one turn
        the database refuses fails alone. A turn's two messages are always in the same
        transaction: both are stored or neither."""
        if not turns:
            return []
        try:
            self._write(turns)
            return [_Outcome(turn) for turn in turns]
        except Exception as exc:  # handed to the caller, who decides
            if len(turns) == 1:
                return [_Outcome(turns[0], error=exc)]
        return [self._attempt(turn, self._write, [turn]) for turn in turns]

    def _write(self, turns: list[SaveTurn]) -> None:
        db = self._open()
        try:
            db.execute("BEGIN IMMEDIATE")
            db.executemany(
                _INSERT,
                [
                    row
                    for turn in turns
                    for row in (
                        (turn.user_id, "user", turn.question),
                        (turn.user_id, "assistant", turn.answer),
                    )
                ],
            )
            users = dict.fromkeys(turn.user_id for turn in turns)
            db.executemany(_PRUNE, [(user, user, self._max_messages) for user in users])
            db.execute("COMMIT")
        except BaseException:
            if db.in_transaction:
                # A failed rollback must not hide why the write failed; SQLite has then
                # rolled back by itself or will refuse the next BEGIN, failing that write too.
                with contextlib.suppress(sqlite3.Error):
                    db.execute("ROLLBACK")
            raise

    def _read_history(self, user_id: str) -> list[Message]:
        rows = self._open().execute(_LAST_MESSAGES, (user_id, self._max_messages)).fetchall()
        return [{"role": role, "content": content} for role, content in reversed(rows)]

    def _ping(self) -> None:
        self._open().execute("SELECT 1").fetchone()

    def _close(self) -> None:
        db, self._db = self._db, None
        if db is not None:
            db.close()

    def _open(self) -> sqlite3.Connection:
        if self._db is None:
            raise sqlite3.ProgrammingError("the connection is closed")
        return self._db

    @staticmethod
    def _attempt(job: Job, action: Callable[..., Any], *args: Any) -> _Outcome:
        try:
            return _Outcome(job, action(*args))
        except Exception as exc:  # handed to the caller, who decides
            return _Outcome(job, error=exc)


def _connect(path: str) -> sqlite3.Connection:
    # Autocommit mode: transactions are the explicit BEGIN ... COMMIT around each batch.
    db = sqlite3.connect(path, isolation_level=None)
    try:
        db.execute("PRAGMA journal_mode=WAL")
        # WAL with synchronous=NORMAL may lose the last turns on power loss, never corrupt the
        # file nor lose a commit when only the process dies: acceptable for chat history, and
        # it spares an fsync per commit.
        db.execute("PRAGMA synchronous=NORMAL")
        db.executescript(_SCHEMA)
    except BaseException:
        db.close()
        raise
    return db


def _settle(future: asyncio.Future[Any], result: Any, error: BaseException | None) -> None:
    if future.done():
        return  # the caller gave up waiting (cancelled)
    if error is None:
        future.set_result(result)
    else:
        future.set_exception(error)
