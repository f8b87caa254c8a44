"""A full log disk under a real server: lines are lost whole, counted on /metrics and in
/health, and logging resumes by itself when space returns; no line is ever torn or glued."""

from __future__ import annotations

import asyncio
import collections
from pathlib import Path

import aiohttp
from support.jarvis_server import read_json_lines, sample, start_jarvis_serve
from support.small_disk import SmallDisk, mounted_small_disk

from jarvis.web.keys import HEALTH


async def chat(session: aiohttp.ClientSession, url: str, user: str) -> str:
    async with session.post(url + "/chat", json={"message": "hi", "user_id": user}) as response:
        assert response.status == 200, "a full log disk never fails a request"
        return response.headers["X-Request-ID"]


async def logged(path: Path, request_ids: list[str]) -> collections.Counter[str]:
    """Lines per request ID, once each of ``request_ids`` has its access line in ``path``."""
    for _ in range(200):
        lines = read_json_lines(path)  # fails the test on a torn or glued line
        access = {line.get("request_id") for line in lines if line["action"] == "http_access"}
        if access.issuperset(request_ids):
            return collections.Counter(str(line.get("request_id")) for line in lines)
        await asyncio.sleep(0.02)
    raise AssertionError("the requests' access lines were never written")


async def test_jarvis_serve_on_a_full_disk_loses_whole_lines_counts_them_and_resumes(
    tmp_path: Path,
) -> None:
    with mounted_small_disk(tmp_path / "logs", "1m") as disk:
        # No background probes: every line written while the disk is full is a request's.
        server = await start_jarvis_serve(tmp_path, env={"HEALTH_INTERVAL": "3600"})
        try:
            async with aiohttp.ClientSession() as session:
                before = [await chat(session, server.url, f"before-{i}") for i in range(3)]
                per_request = (await logged(server.log_file, before))[before[0]]
                disk.fill()
                during = [await chat(session, server.url, f"during-{i}") for i in range(40)]
                await asyncio.sleep(0.3)  # the writer thread has met the full disk
                disk.free_up()
                after = [await chat(session, server.url, f"after-{i}") for i in range(3)]
                lines_per_id = await logged(server.log_file, after)
                async with session.get(server.url + "/metrics") as response:
                    metrics = await response.text()
        finally:
            assert await server.terminate() == 0
        lines = read_json_lines(server.log_file)

    lost = sum(per_request - lines_per_id[request_id] for request_id in during)
    assert lost > 0, "the disk was never full: nothing proven"
    assert sample(metrics, "log_lines_dropped_total", reason="write_error") == lost
    assert sample(metrics, "log_lines_dropped_total", reason="queue_full") == 0
    assert all(lines_per_id[request_id] == per_request for request_id in before + after)
    assert lines[-1]["action"] == "shutdown"


async def test_health_names_the_disk_error_and_the_lines_dropped(
    jarvis_server, small_disk: SmallDisk
) -> None:
    server = await jarvis_server(log_file=str(small_disk.path / "jarvis.jsonl"))
    small_disk.fill()
    for _ in range(60):
        async with server.session.get(server.url + "/health"):
            pass
    await asyncio.sleep(0.2)
    await server.app[HEALTH].check_all()
    async with server.session.get(server.url + "/health") as response:
        body = await response.json()
    assert response.status == 200, "a degraded log sink is not critical"
    log_sink = body["services"]["log_sink"]
    assert log_sink["status"] == "down"
    assert "No space left on device" in log_sink["error"]
    assert "write_error" in log_sink["error"]

    small_disk.free_up()
    async with server.session.get(server.url + "/health"):
        pass
    await asyncio.sleep(0.2)
    await server.app[HEALTH].check_all()  # reports the drops since the last probe, once
    await server.app[HEALTH].check_all()
    async with server.session.get(server.url + "/health") as response:
        assert (await response.json())["services"]["log_sink"]["status"] == "up"
    dropped = sample(await server.metrics_text(), "log_lines_dropped_total", reason="write_error")
    assert dropped is not None and dropped >= 20, "the room left took a few lines only"
