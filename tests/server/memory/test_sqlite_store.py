"""Conversation memory on a real SQLite file."""

import asyncio
import sqlite3
import subprocess

import pytest

from jarvis.memory import MemoryStoreError
from jarvis.memory.sqlite_store import SqliteMemory
from jarvis.metrics import Metrics

pytestmark = pytest.mark.timeout(30)


@pytest.fixture
def metrics() -> Metrics:
    return Metrics.create()


@pytest.fixture
def db_path(tmp_path) -> str:
    return str(tmp_path / "memory.sqlite3")


@pytest.fixture
async def memory(db_path, metrics):
    store = await SqliteMemory.open(db_path, 6, metrics)
    yield store
    await store.close()


def count(metrics: Metrics, operation: str, status: str) -> float:
    return metrics.memory_operations_total.get({"operation": operation, "status": status})


def query_file(path: str, sql: str, *params: object, timeout: float = 5.0) -> list[tuple]:
    """Rows of ``sql`` run on the file by a connection of its own, as another program would
    (once the store let go of it)."""
    db = sqlite3.connect(path, isolation_level=None, timeout=timeout)
    try:
        return db.execute(sql, params).fetchall()
    finally:
        db.close()


async def messages_in_file(path: str, user_id: str) -> int:
    query = "SELECT 2 * COUNT(*) FROM turns WHERE user_id = ?"
    [(n,)] = await asyncio.to_thread(query_file, path, query, user_id)
    return n


async def test_round_trip_keeps_roles_and_contents(memory):
    await memory.save_turn("alice", "Bonjour Jarvis", "Bonjour ! Comment puis-je aider ?")
    assert await memory.history("alice") == [
        {"role": "user", "content": "Bonjour Jarvis"},
        {"role": "assistant", "content": "Bonjour ! Comment puis-je aider ?"},
    ]


async def test_unknown_user_has_empty_history(memory):
    assert await memory.history("nobody") == []


async def test_history_is_oldest_first_and_limited_to_max_turns(memory, db_path):
    sent = [f"message {i}" for i in range(10)]
    for question, answer in zip(sent[::2], sent[1::2], strict=True):
        await memory.save_turn("bob", question, answer)
    history = await memory.history("bob")
    assert [m["content"] for m in history] == sent[-6:]
    await memory.close()  # the store holds its file until closed
    # Older turns are gone from the file too, not just hidden.
    assert await messages_in_file(db_path, "bob") == 6


async def test_users_do_not_see_each_other(memory):
    await memory.save_turn("alice", "secret of alice", "noted, alice")
    await memory.save_turn("bob", "secret of bob", "noted, bob")
    for i in range(4):
        await memory.save_turn("carol", f"carol {i}", f"answer {i}")
    assert await memory.history("alice") == [
        {"role": "user", "content": "secret of alice"},
        {"role": "assistant", "content": "noted, alice"},
    ]
    assert await memory.history("bob") == [
        {"role": "user", "content": "secret of bob"},
        {"role": "assistant", "content": "noted, bob"},
    ]
    # Pruning carol's turns left the others untouched.
    assert len(await memory.history("carol")) == 6


async def test_concurrent_saves_all_land_each_answer_after_its_question(memory, metrics):
    await asyncio.gather(*(memory.save_turn("dave", f"q{i}", f"a{i}") for i in range(3)))
    history = await memory.history("dave")
    assert sorted(m["content"] for m in history) == sorted(
        [f"q{i}" for i in range(3)] + [f"a{i}" for i in range(3)]
    )
    pairs = [(q["content"], a["content"]) for q, a in zip(history[::2], history[1::2], strict=True)]
    assert sorted(pairs) == [(f"q{i}", f"a{i}") for i in range(3)]
    assert count(metrics, "save", "ok") == 3


async def test_history_survives_reopening(db_path):
    first = await SqliteMemory.open(db_path, 6, Metrics.create())
    await first.save_turn("erin", "remember me", "I will")
    await first.close()
    second = await SqliteMemory.open(db_path, 6, Metrics.create())
    try:
        assert await second.history("erin") == [
            {"role": "user", "content": "remember me"},
            {"role": "assistant", "content": "I will"},
        ]
    finally:
        await second.close()


async def test_file_is_in_wal_mode(memory, db_path):
    await memory.close()
    assert await asyncio.to_thread(query_file, db_path, "PRAGMA journal_mode") == [("wal",)]


async def test_no_other_program_changes_the_file_under_an_open_store(memory, db_path):
    """What the store holds in process stays what the file says: while it is open, another
    program can neither write the file nor read it mid-write, and the store keeps working."""
    await memory.save_turn("ivy", "hello", "hi")
    for sql in ("DROP TABLE turns", "SELECT COUNT(*) FROM turns"):
        with pytest.raises(sqlite3.OperationalError, match="database is locked"):
            await asyncio.to_thread(query_file, db_path, sql, timeout=0.1)
    await memory.save_turn("ivy", "still there?", "yes")
    assert [m["content"] for m in await memory.history("ivy")] == [
        "hello",
        "hi",
        "still there?",
        "yes",
    ]
    await memory.close()
    assert await asyncio.to_thread(query_file, db_path, "SELECT COUNT(*) FROM turns") == [(2,)]


async def test_in_memory_store_works(metrics):
    store = await SqliteMemory.open(":memory:", 2, metrics)
    try:
        for text in ("a", "b", "c"):
            await store.save_turn("frank", text, text.upper())
        assert [m["content"] for m in await store.history("frank")] == ["c", "C"]
    finally:
        await store.close()


async def test_operations_are_counted_ok(memory, metrics):
    await memory.save_turn("gina", "hello", "hi")
    await memory.save_turn("gina", "again", "hi again")
    await memory.history("gina")  # read from the file
    await memory.history("gina")  # from the copy held since: counted all the same
    await memory.ping()
    await memory.ping()
    assert count(metrics, "save", "ok") == 2
    assert count(metrics, "load", "ok") == 2
    assert count(metrics, "ping", "ok") == 2
    assert all(count(metrics, op, "error") == 0 for op in ("load", "save", "ping"))


async def test_a_closed_store_raises_and_counts_errors(memory, metrics):
    await memory.close()
    with pytest.raises(MemoryStoreError, match="closed"):
        await memory.history("henry")
    with pytest.raises(MemoryStoreError):
        await memory.save_turn("henry", "hello", "hi")
    with pytest.raises(MemoryStoreError):
        await memory.ping()
    assert count(metrics, "load", "error") == 1
    assert count(metrics, "save", "error") == 1
    assert count(metrics, "ping", "error") == 1
    assert count(metrics, "ping", "ok") == 0


async def test_a_failing_query_is_a_counted_store_error(memory, metrics):
    # A user ID SQLite cannot take (a lone surrogate: the web checks IDs, the store does not
    # rely on it).
    with pytest.raises(MemoryStoreError) as caught:
        await memory.history("ivy \ud800")
    assert "surrogate" in str(caught.value)
    assert caught.value.__cause__ is not None
    with pytest.raises(MemoryStoreError):
        await memory.save_turn("ivy \ud800", "hello", "hi")
    assert count(metrics, "load", "error") == 1
    assert count(metrics, "save", "error") == 1


async def test_a_path_that_cannot_be_opened_is_a_store_error(tmp_path, metrics):
    path = str(tmp_path / "missing-dir" / "memory.sqlite3")
    with pytest.raises(MemoryStoreError) as caught:
        await SqliteMemory.open(path, 6, metrics)
    assert path in str(caught.value)
    assert caught.value.__cause__ is not None


async def test_a_file_that_is_not_a_database_is_a_store_error(tmp_path, metrics):
    path = tmp_path / "memory.sqlite3"
    path.write_bytes(b"this is not an sqlite database, just some text " * 100)
    with pytest.raises(MemoryStoreError, match="not a database"):
        await SqliteMemory.open(str(path), 6, metrics)


async def test_a_turn_is_saved_whole_or_not_at_all(tmp_path):
    """The question and its answer land together, in order, as one counted save."""
    metrics = Metrics.create()
    memory = await SqliteMemory.open(str(tmp_path / "m.db"), 10, metrics)
    try:
        await memory.save_turn("enzo", "Bonjour ?", "Bonjour !")
        assert await memory.history("enzo") == [
            {"role": "user", "content": "Bonjour ?"},
            {"role": "assistant", "content": "Bonjour !"},
        ]
        assert metrics.memory_operations_total.get({"operation": "save", "status": "ok"}) == 1
    finally:
        await memory.close()


def turns_are_whole(history: list[dict[str, str]]) -> bool:
    """Each question is followed by its own answer (``answer of <question>``)."""
    pairs = list(zip(history[::2], history[1::2], strict=True))
    return all(
        q["role"] == "user"
        and a["role"] == "assistant"
        and a["content"] == f"answer of {q['content']}"
        for q, a in pairs
    )


async def reopened_histories(path: str, max_turns: int, users: list[str]) -> dict:
    """What the file alone says, read by a store that never saw the writes."""
    store = await SqliteMemory.open(path, max_turns, Metrics.create())
    try:
        return {user: await store.history(user) for user in users}
    finally:
        await store.close()


async def test_many_users_at_once_each_keep_their_own_whole_turns(db_path, metrics):
    """Turns of 100 users, all in flight together, some read before and during the writes:
    each user keeps their last turns, each answer right after its question, and the server's
    answers agree with what the file holds."""
    memory = await SqliteMemory.open(db_path, 6, metrics)
    users = [f"user-{n}" for n in range(100)]
    try:
        await asyncio.gather(*(memory.history(user) for user in users[::2]))

        async def chat(user: str, turn: int) -> None:
            question = f"{user} turn {turn}"
            await memory.save_turn(user, question, f"answer of {question}")

        await asyncio.gather(
            *(chat(user, turn) for turn in range(8) for user in users),
            *(memory.history(user) for user in users[1::4]),
        )
        seen = {user: await memory.history(user) for user in users}
    finally:
        await memory.close()

    for user, history in seen.items():
        assert len(history) == 6 and turns_are_whole(history), user
        assert all(m["content"].startswith(f"{user} turn") for m in history[::2]), user
    assert seen == await reopened_histories(db_path, 6, users)
    assert count(metrics, "save", "ok") == 800
    assert await messages_in_file(db_path, "user-7") == 6


async def test_one_user_chatting_many_times_at_once_keeps_whole_turns(db_path, metrics):
    memory = await SqliteMemory.open(db_path, 10, metrics)
    try:
        await memory.save_turn("zoe", "first", "answer of first")
        await memory.history("zoe")  # held in process from now on
        questions = [f"question {n}" for n in range(50)]
        await asyncio.gather(*(memory.save_turn("zoe", q, f"answer of {q}") for q in questions))
        history = await memory.history("zoe")
    finally:
        await memory.close()
    assert len(history) == 10 and turns_are_whole(history)
    assert {m["content"] for m in history[::2]} <= set(questions)
    assert await messages_in_file(db_path, "zoe") == 10
    assert {"zoe": history} == await reopened_histories(db_path, 10, ["zoe"])


async def test_a_turn_the_database_refuses_fails_alone(memory, metrics):
    """Turns committed together do not fail together: a text SQLite cannot store (a lone
    surrogate) fails its own turn, stores nothing of it, and the others land."""
    results = await asyncio.gather(
        memory.save_turn("kim", "before", "answer of before"),
        memory.save_turn("kim", "broken \ud800", "answer of broken"),
        memory.save_turn("lou", "fine", "answer of fine"),
        return_exceptions=True,
    )
    assert results[0] is None and results[2] is None
    assert isinstance(results[1], MemoryStoreError)
    assert "surrogate" in str(results[1])
    assert await memory.history("kim") == [
        {"role": "user", "content": "before"},
        {"role": "assistant", "content": "answer of before"},
    ]
    assert len(await memory.history("lou")) == 2
    assert count(metrics, "save", "ok") == 2
    assert count(metrics, "save", "error") == 1


async def test_a_returned_history_is_the_callers_list_of_the_held_messages(memory):
    """The list is the caller's: what it adds changes nothing stored. The messages are the
    ones held in process, read-only (``ChatHistory``), not copies made for every turn."""
    await memory.save_turn("max", "hello", "hi")
    await memory.history("max")  # held in process from now on
    first = await memory.history("max")
    first.append({"role": "user", "content": "extra"})
    second = await memory.history("max")
    assert second == [
        {"role": "user", "content": "hello"},
        {"role": "assistant", "content": "hi"},
    ]
    assert all(a is b for a, b in zip(first, second, strict=False)), "held, not copied"


async def test_a_history_read_from_the_file_is_the_callers_list(memory, db_path):
    await memory.save_turn("mia", "hello", "hi")
    await memory.close()
    reopened = await SqliteMemory.open(db_path, 6, Metrics.create())
    try:
        read = await reopened.history("mia")  # not held yet: read from the file
        read.clear()
        assert [m["content"] for m in await reopened.history("mia")] == ["hello", "hi"]
    finally:
        await reopened.close()


async def test_closing_finishes_the_turns_under_way(db_path):
    memory = await SqliteMemory.open(db_path, 6, Metrics.create())
    saves = [asyncio.ensure_future(memory.save_turn("noa", f"q{n}", f"a{n}")) for n in range(3)]
    await asyncio.sleep(0)  # the saves are queued
    await memory.close()
    await asyncio.gather(*saves)
    assert len((await reopened_histories(db_path, 6, ["noa"]))["noa"]) == 6


async def test_a_full_disk_fails_the_turn_whole_and_the_store_recovers(small_disk, metrics):
    path = str(small_disk.path / "memory.sqlite3")
    memory = await SqliteMemory.open(path, 6, metrics)
    try:
        await memory.save_turn("olga", "before", "answer of before")
        small_disk.fill()
        with pytest.raises(MemoryStoreError, match="database or disk is full") as caught:
            await memory.save_turn("olga", "during", "answer of during " + "x" * 200_000)
        assert isinstance(caught.value.__cause__, sqlite3.Error)
        assert [m["content"] for m in await memory.history("olga")] == [
            "before",
            "answer of before",
        ]
        small_disk.free_up()
        await memory.save_turn("olga", "after", "answer of after")
        expected = await memory.history("olga")
    finally:
        await memory.close()
    assert [m["content"] for m in expected] == [
        "before",
        "answer of before",
        "after",
        "answer of after",
    ]
    assert await reopened_histories(path, 6, ["olga"]) == {"olga": expected}
    assert await asyncio.to_thread(query_file, path, "PRAGMA integrity_check") == [("ok",)]
    assert count(metrics, "save", "error") == 1


async def test_a_read_only_volume_is_a_store_error_naming_the_path(small_disk, metrics):
    path = str(small_disk.path / "memory.sqlite3")
    memory = await SqliteMemory.open(path, 6, metrics)
    await memory.save_turn("paul", "hello", "hi")
    await memory.close()
    remount = ["mount", "-o", "remount,ro", str(small_disk.path)]
    await asyncio.to_thread(subprocess.run, remount, check=True)
    with pytest.raises(MemoryStoreError) as caught:
        await SqliteMemory.open(path, 6, metrics)
    assert path in str(caught.value)
    assert "not writable" in str(caught.value)


# The layout files had before a turn was one row: a row per message, a turn's two at
# consecutive ids, pruned to the last messages of each user.
OLD_LAYOUT = """
CREATE TABLE messages (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id TEXT NOT NULL,
    role TEXT NOT NULL,
    content TEXT NOT NULL
);
CREATE INDEX messages_by_user ON messages (user_id, id);
"""


def write_old_layout(path: str, rows: list[tuple[str, str, str]]) -> None:
    db = sqlite3.connect(path, isolation_level=None)
    try:
        db.executescript(OLD_LAYOUT)
        db.executemany("INSERT INTO messages (user_id, role, content) VALUES (?, ?, ?)", rows)
    finally:
        db.close()


async def test_a_file_of_the_old_layout_keeps_every_turn_it_held(db_path, metrics):
    """An upgraded server finds the histories its predecessor stored, in order; an answer left
    alone by the old pruning (its question pruned) is not a turn and is not kept."""
    write_old_layout(
        db_path,
        [
            ("ada", "assistant", "orphan answer, its question pruned"),
            ("ada", "user", "q1"),
            ("ada", "assistant", "a1"),
            ("bob", "user", "hello, bob here"),
            ("bob", "assistant", "hi bob"),
            ("ada", "user", "q2"),
            ("ada", "assistant", "a2"),
        ],
    )
    memory = await SqliteMemory.open(db_path, 6, metrics)
    try:
        assert [m["content"] for m in await memory.history("ada")] == ["q1", "a1", "q2", "a2"]
        assert [m["role"] for m in await memory.history("bob")] == ["user", "assistant"]
        await memory.save_turn("ada", "q3", "a3")
    finally:
        await memory.close()
    tables = await asyncio.to_thread(
        query_file, db_path, "SELECT name FROM sqlite_master WHERE type = 'table'"
    )
    assert ("messages",) not in tables
    reopened = await reopened_histories(db_path, 6, ["ada"])
    assert [m["content"] for m in reopened["ada"]] == ["q1", "a1", "q2", "a2", "q3", "a3"]


async def test_a_conversion_the_disk_cannot_hold_loses_nothing_and_runs_once_there_is_room(
    small_disk, metrics
):
    """Converting writes every turn again before the old table goes: on a full disk the store
    does not open, says why, and the file keeps its old layout whole; with room, it converts."""
    path = str(small_disk.path / "memory.sqlite3")
    answer = "a long answer " * 500
    rows = []
    for n in range(100):
        rows += [(f"user-{n % 10}", "user", f"q{n}"), (f"user-{n % 10}", "assistant", answer)]
    write_old_layout(path, rows)
    small_disk.fill(leave_bytes=64 * 1024)
    with pytest.raises(MemoryStoreError, match="cannot open conversation memory") as caught:
        await SqliteMemory.open(path, 1000, metrics)
    assert "full" in str(caught.value)
    # Room first: another program needs some to read a file in WAL mode (the index it shares
    # with others, which the store, holding the file alone, never made).
    small_disk.free_up()
    old_rows = "SELECT user_id, role, content FROM messages ORDER BY id"
    assert await asyncio.to_thread(query_file, path, old_rows) == rows
    reopened = await reopened_histories(path, 1000, ["user-3"])
    assert [m["content"] for m in reopened["user-3"]] == [
        text for n in range(3, 100, 10) for text in (f"q{n}", answer)
    ]


async def test_an_odd_limit_keeps_that_many_last_messages(db_path, metrics):
    memory = await SqliteMemory.open(db_path, 5, metrics)
    try:
        for n in range(4):
            await memory.save_turn("eve", f"q{n}", f"a{n}")
        held = [m["content"] for m in await memory.history("eve")]
    finally:
        await memory.close()
    assert held == ["a1", "q2", "a2", "q3", "a3"]
    reopened = await reopened_histories(db_path, 5, ["eve"])
    assert [m["content"] for m in reopened["eve"]] == held
