"""``jarvis dev`` as a new user runs it: the whole pipeline from one command, a chat, its trace
with the command the summary prints, then Ctrl-C and nothing left behind.

Run from the working tree (an editable install), as a fresh clone would after ``.ci/setup``;
it starts a real Elasticsearch node, so it takes a while (about 10-60 s to ready).
"""

from __future__ import annotations

import asyncio
import shlex

import aiohttp
import orjson
import pytest
from dev_harness import is_running, processes_mentioning, start_jarvis_dev
from support.jarvis_logs_cli import jsonl, run_cli
from support.jarvis_server import read_json_lines

from jarvis.logline import decode_line

pytestmark = pytest.mark.timeout(600)

TRACE_WAIT_SECONDS = 60
STOP_NOTES = ("stopping jarvis serve", "stopping jarvis-shipper", "stopping Prometheus",
              "stopping Elasticsearch")  # fmt: skip


def _row(summary: list[str], label: str) -> str:
    """The value of one row of the summary (``  API   http://...``)."""
    line = next(line for line in summary if line.strip().startswith(label + " "))
    return line.strip().removeprefix(label).strip()


async def _trace(command: list[str], request_id: str) -> list[dict]:
    """The events the summary's jarvis-logs command finds for ``request_id`` (none yet: [])."""
    args = [request_id if arg == "<request_id>" else arg for arg in command[1:]]
    result = await run_cli(*args, "--json")
    return jsonl(result.stdout) if result.status == 0 else []


async def test_one_command_runs_the_pipeline_a_chat_is_traced_and_ctrl_c_stops_it_all(tmp_path):
    dev = await start_jarvis_dev(tmp_path)
    data_dir = str(dev.data_dir.resolve())
    try:
        summary = await dev.wait_until_ready()
        api = _row(summary, "API").split()[0]
        trace_line = next(line for line in summary if "jarvis-logs" in line)
        trace_command = shlex.split(trace_line.split("#")[0])
        assert trace_command[0] == "jarvis-logs" and "<request_id>" in trace_command

        async with aiohttp.ClientSession() as session:
            payload = {"message": "hello", "user_id": "enzo"}
            async with session.post(f"{api}/chat", json=payload) as response:
                assert response.status == 200
                request_id = (await response.json())["request_id"]
            async with session.get(_row(summary, "Metrics")) as response:
                assert "chat_requests_total" in await response.text()
            if "not started" not in _row(summary, "Prometheus"):
                prometheus = _row(summary, "Prometheus")
                async with session.get(f"{prometheus}/api/v1/rules") as response:
                    groups = (await response.json())["data"]["groups"]
                    assert {group["name"] for group in groups} >= {"jarvis-api"}

        # What the server logged for the request, all of it, is what the trace must show.
        # The server's writer thread writes them a moment after the answer.
        log_file = dev.data_dir / "logs" / "jarvis.jsonl"
        expected_actions = {"chat_request", "chat_success", "http_access"}
        for _ in range(100):
            logged = [
                event
                for event in await asyncio.to_thread(read_json_lines, log_file)
                if event.get("request_id") == request_id
            ]
            if {e["action"] for e in logged} >= expected_actions:
                break
            await asyncio.sleep(0.1)
        assert {e["action"] for e in logged} >= expected_actions, logged
        deadline = asyncio.get_running_loop().time() + TRACE_WAIT_SECONDS
        while True:
            traced = await _trace(trace_command, request_id)
            if sorted(e["message"] for e in traced) == sorted(e["message"] for e in logged):
                break
            assert asyncio.get_running_loop().time() < deadline, (traced, logged, str(dev))
            await asyncio.sleep(0.5)

        pids = dev.pids()
        assert {"Elasticsearch", "jarvis serve", "jarvis-shipper"} <= pids.keys(), str(dev)
        status = await dev.stop()
    finally:
        if dev.process.returncode is None:
            dev.process.kill()
            await dev.process.wait()

    assert status == 0, str(dev)
    assert dev.stderr == [], str(dev)
    for title, pid in pids.items():
        assert not is_running(pid, data_dir), f"{title} (pid {pid}) outlived jarvis dev"
    assert processes_mentioning(data_dir) == []
    # Stopped in order: the server, the shipper once it shipped the server's last lines,
    # Prometheus, then Elasticsearch.
    # On a pipe, each process's lines are its own, prefixed: the server's are JSON.
    api_lines = [line.removeprefix("api     | ") for line in dev.stdout if line.startswith("api ")]
    assert api_lines and all(decode_line(line) is not None for line in api_lines)
    notes = [line.split("| ", 1)[1] for line in dev.stdout if line.startswith("dev ")]
    stops = [note for note in notes if note in STOP_NOTES]
    assert stops == [note for note in STOP_NOTES if note in stops], notes
    assert {"stopping jarvis serve", "stopping jarvis-shipper", "stopping Elasticsearch"} <= set(
        stops
    )
    assert notes[-1] == "everything stopped"
    last_line = orjson.loads(log_file.read_bytes().splitlines()[-1])
    assert last_line["action"] == "shutdown"
    registry = orjson.loads((dev.data_dir / "shipper-state" / "registry.json").read_bytes())
    (entry,) = registry["files"].values()
    assert entry["offset"] == log_file.stat().st_size, "every line the server wrote was shipped"


async def test_jarvis_dev_killed_outright_leaves_nothing_running(tmp_path):
    """kill -9 of jarvis dev itself, with no chance to stop anything in order: every process
    it started goes too (Elasticsearch sees its stdin close; the others get SIGTERM from the
    kernel when their parent dies), rather than holding the ports for the next run."""
    dev = await start_jarvis_dev(tmp_path)
    data_dir = str(dev.data_dir.resolve())
    try:
        await dev.wait_until_ready()
        pids = dev.pids()
        assert {"Elasticsearch", "jarvis serve", "jarvis-shipper"} <= pids.keys(), str(dev)
        dev.process.kill()
        await dev.process.wait()
        for _ in range(600):
            if not processes_mentioning(data_dir):
                break
            await asyncio.sleep(0.1)
        assert processes_mentioning(data_dir) == [], str(dev)
    finally:
        if dev.process.returncode is None:
            dev.process.kill()
            await dev.process.wait()
