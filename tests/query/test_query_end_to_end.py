"""A live ``jarvis serve`` and ``jarvis-shipper``: what the server logged for one request is
exactly what ``jarvis-logs trace`` shows, from Elasticsearch and from the files."""

from __future__ import annotations

import asyncio
import gzip
import os
import signal
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import orjson
import pytest
from query_documents import unshipped
from support.jarvis_logs_cli import jsonl, run_cli
from support.jarvis_server import JarvisProcess, start_jarvis_serve

pytestmark = pytest.mark.timeout(300)

WAIT_SECONDS = 120
ROTATE_BYTES = 2000


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[JarvisProcess]:
    running = await start_jarvis_serve(tmp_path)
    yield running
    await running.terminate()


@pytest.fixture
async def shipper(tmp_path: Path, server: JarvisProcess, es_url: str) -> AsyncIterator[None]:
    """``jarvis-shipper`` tailing the server's log file into the test's Elasticsearch."""
    state = tmp_path / "shipper-state"
    state.mkdir()
    with (tmp_path / "shipper.err").open("wb") as errors:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "shipper",
            "--path", str(server.log_file), "--state-dir", str(state),
            "--metrics-host", "127.0.0.1", "--metrics-port", "0",
            "--flush-interval", "0.2", "--poll-interval", "0.1",
            # Small files, so that a session spans rotated and compressed backups.
            "--rotate-size", str(ROTATE_BYTES),
            env={**os.environ, "ELASTICSEARCH_URL": es_url},
            stdout=asyncio.subprocess.DEVNULL, stderr=errors,
        )  # fmt: skip
    yield
    if process.returncode is None:
        process.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(process.wait(), 30)
        except TimeoutError:
            process.kill()
            await process.wait()


def server_log_files(log_file: Path) -> list[tuple[str, list[dict]]]:
    """Each file the server wrote and its lines, oldest first: backups ``.N.gz`` down to
    ``.1.gz``, then the live file."""
    backups = list(log_file.parent.glob(log_file.name + ".*.gz"))
    backups.sort(key=lambda path: int(path.name.removeprefix(log_file.name + ".").split(".")[0]))
    files = [
        (
            path.name,
            [orjson.loads(line) for line in gzip.decompress(path.read_bytes()).splitlines()],
        )
        for path in reversed(backups)
    ]
    if log_file.exists():
        files.append(
            (log_file.name, [orjson.loads(line) for line in log_file.read_bytes().splitlines()])
        )
    return files


def backup_names(log_file: Path) -> list[str]:
    return sorted(path.name for path in log_file.parent.glob(log_file.name + ".*"))


def settled_read(log_file: Path) -> list[tuple[str, list[dict]]] | None:
    """The files, if every backup was compressed and none moved while reading; else None."""
    before = backup_names(log_file)
    if not before or not all(name.endswith(".gz") for name in before):
        return None
    try:
        files = server_log_files(log_file)
    except FileNotFoundError:
        return None
    return files if backup_names(log_file) == before else None


def in_a_backup(log_file: Path, text: str) -> bool:
    """True when a rotated backup (compressed or not yet) holds ``text``."""
    for path in log_file.parent.glob(log_file.name + ".*"):
        if path.suffix == ".tmp":
            continue
        try:
            data = path.read_bytes()
            if path.suffix == ".gz":
                data = gzip.decompress(data)
        except (FileNotFoundError, EOFError, gzip.BadGzipFile):
            continue  # moved or being compressed right now: look again at the next poll
        if text.encode() in data:
            return True
    return False


async def settled_log(log_file: Path) -> list[tuple[str, list[dict]]]:
    """What the server wrote, read while the shipper is not moving files."""
    deadline = asyncio.get_running_loop().time() + WAIT_SECONDS
    while (files := await asyncio.to_thread(settled_read, log_file)) is None:
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("the shipper never left the log files settled")
        await asyncio.sleep(0.2)
    return files


async def lines_of(server: JarvisProcess, request_id: str) -> list[dict]:
    files = await settled_log(server.log_file)
    return [line for _, lines in files for line in lines if line.get("request_id") == request_id]


async def wait_until(condition, what: str) -> None:
    deadline = asyncio.get_running_loop().time() + WAIT_SECONDS
    while not await condition():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.2)


async def test_a_chat_and_a_websocket_session_traced_through_the_live_stack(
    server, shipper, es_client, es_url
):
    ws_id = f"ws-e2e-{uuid.uuid4()}"
    async with aiohttp.ClientSession() as session:
        async with session.post(
            server.url + "/chat", json={"message": "bonjour Jarvis", "user_id": "enzo"}
        ) as response:
            assert response.status == 200, await response.text()
            http_id = response.headers["X-Request-ID"]
        other_ids = []
        for number in range(3):
            async with session.post(
                server.url + "/chat", json={"message": f"noise {number}", "user_id": "zoe"}
            ) as response:
                assert response.status == 200
                other_ids.append(response.headers["X-Request-ID"])
        async with session.ws_connect(server.url + "/ws", headers={"X-Request-ID": ws_id}) as ws:
            for turn in range(3):
                await ws.send_json({"message": f"tour {turn}", "user_id": "enzo"})
                while (frame := await ws.receive_json(timeout=30))["type"] != "done":
                    assert frame["type"] == "token", frame
                if turn == 1:
                    # Let the shipper rotate the file under the session before it goes on.
                    await wait_until(
                        lambda: asyncio.to_thread(in_a_backup, server.log_file, ws_id),
                        "a rotation during the session",
                    )
            await ws.send_str("{not json")
            assert (await ws.receive_json(timeout=30))["type"] == "error"

    async def session_closed_in_log() -> bool:
        return any(line.get("action") == "http_access" for line in await lines_of(server, ws_id))

    await wait_until(session_closed_in_log, "the WebSocket session's access line")

    for request_id in (http_id, ws_id):
        written = await lines_of(server, request_id)
        assert len(written) >= 3, written

        async def all_shipped(request_id=request_id, expected=written) -> bool:
            await es_client.indices.refresh(index="jarvis-logs-*", allow_no_indices=True)
            found = await es_client.count(
                index="jarvis-logs-*", query={"term": {"request_id": request_id}}
            )
            return found["count"] >= len(expected)

        await wait_until(all_shipped, f"the shipper to index {request_id}")

        from_es = await run_cli("trace", request_id, "--json", "--es-url", es_url)
        assert from_es.status == 0, from_es.stderr
        assert [unshipped(event) for event in jsonl(from_es.stdout)] == written

        from_files = await run_cli(
            "trace", request_id, "--json", "--source", "files",
            "--path", str(server.log_file) + "*",
        )  # fmt: skip
        assert from_files.status == 0, from_files.stderr
        assert jsonl(from_files.stdout) == written

        timeline = await run_cli("trace", request_id, "--es-url", es_url)
        assert timeline.status == 0, timeline.stderr
        *events, _, summary = timeline.stdout.splitlines()
        assert summary.startswith(f"Request {request_id}")
        body = [line for line in events if not line.startswith("    ")]
        assert len(body) == len(written)
        for shown, line in zip(body, written, strict=True):
            assert line["message"] in shown
        assert "user_id=zoe" not in timeline.stdout
        assert not any(other in timeline.stdout for other in other_ids)

    files = await settled_log(server.log_file)
    holding_session = [
        name for name, lines in files if any(line.get("request_id") == ws_id for line in lines)
    ]
    assert len(holding_session) >= 2, files
    ws_actions = [line.get("action") for line in await lines_of(server, ws_id)]
    assert ws_actions[0] == "ws_connect" and "ws_close" in ws_actions
    assert ws_actions.count("chat_request") == 3 and "chat_error" in ws_actions
