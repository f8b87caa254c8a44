"""The one thread that owns the SQLite connection of the conversation memory.

Callers on the event loop hand it jobs through a queue and await a future: one thread hop per
operation. It takes every job waiting when it wakes and writes all their turns in one INSERT
statement (group commit), so one commit, and its WAL write, serves many users at once; reads
and pings of the same batch run after that commit. The outcomes come back to the event loop in
one callback per batch, which first tells ``on_committed`` what was stored and read, in the
database's order, then resolves the futures, in that order, a few per loop iteration: a
resolved future resumes its chat in the next iteration, and a hundred WebSocket turns committed
together, resumed together, sent their answers and then started their next chats together, in
loop iterations of 6-10 ms that every other request and frame waited behind.

The thread holds the GIL as little as it can: the sqlite3 module lets it go around each step of
a statement and this thread must win it back after each, which, while the event loop is busy,
takes up to the interpreter's switch interval (5 ms) and pre-empts the loop. So a batch of turns
is one statement, one step, whatever its size: a turn is one row, its question and answer
together (stored both or neither), and a trigger prunes each user's old turns inside that same
step, where an explicit BEGIN, prune and COMMIT would be three more hand-overs of the GIL per
batch.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import queue
import sqlite3
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

Message = dict[str, str]

# One row a turn, its question and answer together: half the rows (and B-tree updates) of a
# row per message, so some 20% less of SQLite's CPU a turn, measured.
_SCHEMA = """
CREATE TABLE IF NOT EXISTS turns (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id TEXT NOT NULL,
    question TEXT NOT NULL,
    answer TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS turns_by_user ON turns (user_id, id);
"""
# A connection's own trigger (TEMP), as the number of messages kept is a setting of this
# server: once a turn is in, its user keeps only their last {keep} turns.
_PRUNE_TRIGGER = """
CREATE TEMP TRIGGER prune_turns AFTER INSERT ON main.turns
BEGIN
    DELETE FROM turns WHERE user_id = NEW.user_id AND id <= (
        SELECT id FROM turns WHERE user_id = NEW.user_id ORDER BY id DESC LIMIT 1 OFFSET {keep}
    );
END
"""
# Files written before turns had a row of their own hold a row per message, a turn's question
# and answer at consecutive ids (one INSERT wrote both): they become one row each, in order.
_OLD_LAYOUT = "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'messages'"
_FROM_OLD_LAYOUT = """
INSERT INTO turns (user_id, question, answer)
SELECT asked.user_id, asked.content, answered.content
FROM messages AS asked JOIN messages AS answered ON answered.id = asked.id + 1
WHERE asked.role = 'user' AND answered.role = 'assistant' AND answered.user_id = asked.user_id
ORDER BY asked.id
"""
_TURN_ROW = "(?, ?, ?)"
# Jobs taken in one batch, so its turns fit one INSERT: 3 parameters each, far below SQLite's
# limit of 32,766.
_MAX_BATCH_JOBS = 1024
# Futures resolved per loop iteration: the chats they resume (about 0.1 ms each) fit in 2 ms.
_SETTLED_PER_ITERATION = 16
# How long start-up waits for another process to let go of the file (a server still
# shutting down) before refusing it.
_LOCK_WAIT_SECONDS = 5.0
_LAST_TURNS = "SELECT question, answer FROM turns WHERE user_id = ? ORDER BY id DESC LIMIT ?"


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
        # Whole turns, enough for ``max_messages`` (one message more when it is odd).
        self._max_turns = (max_messages + 1) // 2
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
            self._db = _connect(self._path, self._max_turns)
        except Exception as exc:  # whatever it is, the opener reports it
            self._loop.call_soon_threadsafe(_settle, opened, None, exc)
            return
        self._loop.call_soon_threadsafe(_settle, opened, None, None)
        stopped = False
        while not stopped:
            jobs = self._jobs
            batch = [jobs.get()]
            # This thread alone takes jobs: what is not empty now still holds a job below.
            while len(batch) < _MAX_BATCH_JOBS and not jobs.empty():
                batch.append(jobs.get_nowait())
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
            self._settle_from(outcomes, 0)

    def _settle_from(self, outcomes: list[_Outcome], start: int) -> None:
        """Resolve the futures of ``outcomes[start:]``, at most ``_SETTLED_PER_ITERATION``
        now, the rest in the next loop iterations."""
        end = start + _SETTLED_PER_ITERATION
        for outcome in outcomes[start:end]:
            _settle(outcome.job.done, outcome.result, outcome.error)
        if end < len(outcomes):
            self._loop.call_soon(self._settle_from, outcomes, end)

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
        values: list[str] = []
        for turn in turns:
            values += (turn.user_id, turn.question, turn.answer)
        try:
            db.execute(_insert_turns(len(turns)), values)
        except BaseException:
            if db.in_transaction:
                # A failed rollback must not hide why the write failed; SQLite has then
                # rolled back by itself or will refuse the next write, failing it too.
                with contextlib.suppress(sqlite3.Error):
                    db.execute("ROLLBACK")
            raise

    def _read_history(self, user_id: str) -> list[Message]:
        rows = self._open().execute(_LAST_TURNS, (user_id, self._max_turns)).fetchall()
        messages: list[Message] = []
        for question, answer in reversed(rows):
            messages += (
                {"role": "user", "content": question},
                {"role": "assistant", "content": answer},
            )
        return messages[-self._max_messages :]

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


@functools.lru_cache(maxsize=64)
def _insert_turns(count: int) -> str:
    """The INSERT of ``count`` turns, from 3 parameters a turn: user, question, answer."""
    rows = ", ".join([_TURN_ROW] * count)
    return f"INSERT INTO turns (user_id, question, answer) VALUES {rows}"


def _connect(path: str, keep: int) -> sqlite3.Connection:
    # Autocommit mode: each statement is a transaction of its own.
    db = sqlite3.connect(path, isolation_level=None, timeout=_LOCK_WAIT_SECONDS)
    try:
        # The file is this server's alone while it runs, as the histories it holds in process
        # (``RecentHistory``) assume: another server writing there would leave them stale.
        # Set before WAL mode, this also keeps the WAL's index in this process's memory rather
        # than a shared file, and spares every commit its file locks (``fcntl``).
        db.execute("PRAGMA locking_mode=EXCLUSIVE")
        db.execute("PRAGMA journal_mode=WAL")
        # WAL with synchronous=NORMAL may lose the last turns on power loss, never corrupt the
        # file nor lose a commit when only the process dies: acceptable for chat history, and
        # it spares an fsync per commit.
        db.execute("PRAGMA synchronous=NORMAL")
        db.executescript(_SCHEMA)
        if db.execute(_OLD_LAYOUT).fetchone() is not None:
            # One transaction: a file is either still in the old layout or wholly in the new.
            db.executescript(f"BEGIN; {_FROM_OLD_LAYOUT}; DROP TABLE messages; COMMIT;")
        db.execute(_PRUNE_TRIGGER.format(keep=int(keep)))
        # The lock is taken by the first write and held until the connection closes: taken
        # now, a file another process holds is refused at start-up, not at the first chat.
        db.execute("BEGIN EXCLUSIVE")
        db.execute("COMMIT")
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
