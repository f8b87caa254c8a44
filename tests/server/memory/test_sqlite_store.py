"""Conversation memory on a real SQLite file."""

import asyncio

import aiosqlite
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


async def rows_in_file(path: str, user_id: str) -> int:
    async with aiosqlite.connect(path) as db:
        cursor = await db.execute("SELECT COUNT(*) FROM messages WHERE user_id = ?", (user_id,))
        (n,) = await cursor.fetchone()
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
    # Older turns are gone from the file too, not just hidden.
    assert await rows_in_file(db_path, "bob") == 6


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
    async with aiosqlite.connect(db_path) as db:
        cursor = await db.execute("PRAGMA journal_mode")
        (mode,) = await cursor.fetchone()
    assert mode == "wal"


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
    await memory.history("gina")
    await memory.ping()
    await memory.ping()
    assert count(metrics, "save", "ok") == 2
    assert count(metrics, "load", "ok") == 1
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


async def test_a_failing_query_is_a_counted_store_error(memory, metrics, db_path):
    # Someone else dropped the table under the running server.
    async with aiosqlite.connect(db_path) as db:
        await db.execute("DROP TABLE messages")
        await db.commit()
    with pytest.raises(MemoryStoreError) as caught:
        await memory.history("ivy")
    assert "no such table" in str(caught.value)
    assert caught.value.__cause__ is not None
    with pytest.raises(MemoryStoreError):
        await memory.save_turn("ivy", "hello", "hi")
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
