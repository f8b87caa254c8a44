"""The SQLite memory under a real server: a ``jarvis serve`` killed with SIGKILL in the middle
of a load leaves a sound file where every turn is whole and every answered chat is stored; a
full disk fails the chat with a clear 503 and nothing half-stored."""

from __future__ import annotations

import asyncio
import sqlite3
from collections import defaultdict
from pathlib import Path

import aiohttp
import pytest
from support.jarvis_server import free_port, read_json_lines, start_jarvis_serve
from support.refusals import refusal_line, run_command
from support.small_disk import SmallDisk

pytestmark = pytest.mark.timeout(120)

SERVE_ENV = {
    "RATE_LIMIT_ENABLED": "false",
    "HEALTH_INTERVAL": "3600",
    # Nothing pruned: every answered chat must still be in the file.
    "MEMORY_MAX_TURNS": "100000",
}


def stored_turns(path: Path) -> tuple[str, dict[str, list[tuple[str, str]]]]:
    """The file's integrity check and each user's messages, oldest first."""
    db = sqlite3.connect(path)
    try:
        (integrity,) = db.execute("PRAGMA integrity_check").fetchone()
        rows = db.execute("SELECT user_id, question, answer FROM turns ORDER BY id").fetchall()
    finally:
        db.close()
    by_user: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for user_id, question, answer in rows:
        by_user[user_id] += (("user", question), ("assistant", answer))
    return integrity, by_user


async def chat_status(url: str, user: str, message: str) -> int:
    """The status ``POST /chat`` of ``message`` by ``user`` is answered with."""
    async with aiohttp.ClientSession() as session:
        async with session.post(
            url + "/chat", json={"message": message, "user_id": user}
        ) as response:
            return response.status


class Answered:
    """The (user, message) of every chat answered with 200; ``enough`` is set once there are
    ``target`` of them."""

    def __init__(self) -> None:
        self.chats: list[tuple[str, str]] = []
        self.target = 0
        self.enough = asyncio.Event()

    def add(self, user: str, message: str) -> None:
        self.chats.append((user, message))
        if len(self.chats) >= self.target:
            self.enough.set()


async def keep_chatting(url: str, run: int, client: int, answered: Answered) -> None:
    """Chat until the server goes away, noting each chat answered with 200."""
    async with aiohttp.ClientSession() as session:
        for n in range(1_000_000):
            user, message = f"user-{(client * 7 + n) % 30}", f"run {run} client {client} chat {n}"
            try:
                async with session.post(
                    url + "/chat", json={"message": message, "user_id": user}
                ) as response:
                    assert response.status == 200, await response.text()
                    assert (await response.json())["response"] == f"Echo: {message}"
            except (aiohttp.ClientError, TimeoutError):
                return
            answered.add(user, message)


async def test_a_server_killed_under_load_leaves_whole_turns_and_every_answered_chat(
    tmp_path: Path,
) -> None:
    answered = Answered()
    for run in range(3):
        server = await start_jarvis_serve(tmp_path, env=SERVE_ENV)
        answered.target = len(answered.chats) + 150
        answered.enough.clear()
        clients = [
            asyncio.create_task(keep_chatting(server.url, run, c, answered)) for c in range(16)
        ]
        try:
            await asyncio.wait_for(answered.enough.wait(), 60)
        finally:
            server.process.kill()
            await server.process.wait()
            await asyncio.gather(*clients)

        integrity, by_user = await asyncio.to_thread(stored_turns, tmp_path / "memory.sqlite3")
        assert integrity == "ok"
        for user, messages in by_user.items():
            questions, answers = messages[::2], messages[1::2]
            assert len(questions) == len(answers), f"half a turn stored for {user}"
            for (role_q, question), (role_a, answer) in zip(questions, answers, strict=True):
                assert (role_q, role_a) == ("user", "assistant")
                assert answer == f"Echo: {question}"
        stored = {(user, q) for user, messages in by_user.items() for _, q in messages[::2]}
        assert stored.issuperset(answered.chats), "an answered chat was lost"

    server = await start_jarvis_serve(tmp_path, env=SERVE_ENV)
    try:
        assert await chat_status(server.url, "user-1", "still here?") == 200
    finally:
        assert await server.terminate() == 0
    _, by_user = await asyncio.to_thread(stored_turns, tmp_path / "memory.sqlite3")
    assert by_user["user-1"][-2:] == [("user", "still here?"), ("assistant", "Echo: still here?")]


async def test_a_full_disk_fails_the_chat_with_a_clear_503_and_stores_nothing_of_it(
    jarvis_server, small_disk: SmallDisk
) -> None:
    server = await jarvis_server(memory_path=str(small_disk.path / "memory.sqlite3"))

    async def chat(message: str) -> tuple[int, dict]:
        async with server.session.post(
            server.url + "/chat", json={"message": message, "user_id": "rita"}
        ) as response:
            return response.status, await response.json()

    assert (await chat("before"))[0] == 200
    small_disk.fill()
    status, body = await chat("during " + "x" * 15_000)
    assert status == 503
    assert body["stage"] == "memory"
    assert "database or disk is full" in body["error"]
    small_disk.free_up()
    assert (await chat("after"))[0] == 200

    await server.stop()  # the server holds its file until it stops
    _, by_user = await asyncio.to_thread(stored_turns, small_disk.path / "memory.sqlite3")
    assert [content for _, content in by_user["rita"]] == [
        "before",
        "Echo: before",
        "after",
        "Echo: after",
    ]


async def test_a_second_server_given_the_same_file_is_refused_and_the_first_keeps_serving(
    tmp_path: Path,
) -> None:
    """The first server holds what it read of the file in process: a second one writing there
    would make it answer from stale histories, so the second is refused at start-up, in one
    line naming the file and the way out."""
    first = await start_jarvis_serve(tmp_path, env=SERVE_ENV)
    try:
        second_logs = tmp_path / "second"
        second_logs.mkdir()
        result = await asyncio.to_thread(
            run_command,
            "jarvis", "serve", "--port", str(free_port()), cwd=second_logs,
            env={"JARVIS_LLM": "echo", "MEMORY_PATH": str(tmp_path / "memory.sqlite3"),
                 "LOG_FILE": str(second_logs / "jarvis.jsonl"), "LOG_STDOUT": "false"},
        )  # fmt: skip
        line = refusal_line(result, "jarvis")
        assert "cannot open conversation memory" in line
        assert str(tmp_path / "memory.sqlite3") in line
        assert "another process holds it" in line and "REDIS_URL" in line
        [logged] = [
            entry for entry in read_json_lines(second_logs / "jarvis.jsonl")
            if entry["level"] == "ERROR"
        ]  # fmt: skip
        assert "another process holds it" in logged["message"]
        assert "exc_info" not in logged and "traceback" not in str(logged).lower()

        assert await chat_status(first.url, "ines", "still mine?") == 200
    finally:
        assert await first.terminate() == 0
    _, by_user = await asyncio.to_thread(stored_turns, tmp_path / "memory.sqlite3")
    assert by_user["ines"] == [("user", "still mine?"), ("assistant", "Echo: still mine?")]
