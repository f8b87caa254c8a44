"""``LOG_FORMAT`` through a real ``jarvis serve``: console lines for people on stdout when
asked (or on a terminal), JSON everywhere else, and always JSON in ``LOG_FILE``."""

from __future__ import annotations

import asyncio
import os
import sys

import aiohttp
import orjson
from support.jarvis_server import start_jarvis_serve

from jarvis.logline import decode_line


async def _chat_then_stop(tmp_path, log_format: str) -> tuple[str, list[bytes], list[dict]]:
    """Run the server with ``LOG_FORMAT``, stdout a pipe; one chat's request ID, the stdout
    lines and the log file's events."""
    server = await start_jarvis_serve(
        tmp_path, env={"LOG_FORMAT": log_format, "LOG_STDOUT": "true"}
    )
    try:
        async with aiohttp.ClientSession() as session:
            async with session.post(
                server.url + "/chat", json={"message": "hello", "user_id": "enzo"}
            ) as response:
                assert response.status == 200
                request_id = response.headers["X-Request-ID"]
    finally:
        assert await server.terminate() == 0
    return request_id, server.stdout_path.read_bytes().splitlines(), server.logs()


async def test_console_writes_lines_for_people_on_a_pipe_and_json_in_the_file(tmp_path):
    request_id, stdout, events = await _chat_then_stop(tmp_path, "console")
    assert stdout
    assert all(decode_line(line) is None for line in stdout), "no JSON on stdout"
    text = b"\n".join(stdout).decode()
    assert "\x1b[" not in text, "no colour on a pipe"
    assert f"INFO     [{request_id}] chat success  action=chat_success user_id=enzo" in text
    assert "listening on http://127.0.0.1:" in text
    assert any(e.get("request_id") == request_id and e["action"] == "chat_success" for e in events)


async def test_auto_on_a_pipe_writes_json(tmp_path):
    request_id, stdout, _ = await _chat_then_stop(tmp_path, "auto")
    events = [orjson.loads(line) for line in stdout]
    assert any(e.get("request_id") == request_id and e["action"] == "chat_success" for e in events)


async def test_an_unknown_log_format_is_refused_at_start_naming_log_format(tmp_path):
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "jarvis", "serve", cwd=tmp_path,
        env={**os.environ, "LOG_FORMAT": "pretty", "JARVIS_LLM": "echo"},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode == 2
    lines = err.decode().splitlines()
    assert len(lines) == 1 and "LOG_FORMAT" in lines[0] and "pretty" in lines[0], lines
    assert out == b""
