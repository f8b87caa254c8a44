"""``jarvis serve`` as a user runs it: a real process, its log file, and its shutdown."""

from __future__ import annotations

import asyncio
import signal

import aiohttp
import orjson
import pytest
from support.fake_ollama import Behaviour
from support.jarvis_server import free_port, start_jarvis_serve
from support.refusals import refusal_line, run_command


async def test_the_seed_validation_steps_against_a_running_server(tmp_path):
    """1. X-Request-ID in the response is in the JSON log; 2. /metrics shows the families;
    3. every log line parses as JSON."""
    server = await start_jarvis_serve(tmp_path, env={"LOG_STDOUT": "true"})
    try:
        async with aiohttp.ClientSession() as session:
            async with session.post(
                server.url + "/chat", json={"message": "test", "user_id": "enzo"}
            ) as response:
                assert response.status == 200
                request_id = response.headers["X-Request-ID"]
            async with session.get(server.url + "/metrics") as response:
                metrics = await response.text()
    finally:
        assert await server.terminate() == 0
    assert request_id in server.log_file.read_text()
    for family in ("ws_active_connections", "chat_requests_total", "llm_generate_seconds_bucket"):
        assert family in metrics
    lines = server.logs()
    assert any(line.get("request_id") == request_id for line in lines)
    stdout_lines = server.stdout_path.read_bytes().splitlines()
    assert stdout_lines, "logs also go to stdout"
    for line in stdout_lines:
        orjson.loads(line)
    assert lines[-1]["action"] == "shutdown", "the log is flushed on shutdown"


async def test_sigterm_lets_in_flight_requests_finish_and_closes_sockets(tmp_path, fake_ollama):
    fake_ollama.set_behaviour(Behaviour.SLOW, delay=0.2)
    server = await start_jarvis_serve(
        tmp_path, env={"JARVIS_LLM": "ollama", "OLLAMA_URL": fake_ollama.url,
                       "OLLAMA_MODEL": "llama3.2:latest"},
    )  # fmt: skip
    async with aiohttp.ClientSession() as session:
        ws = await session.ws_connect(server.url + "/ws")
        chat = asyncio.create_task(
            session.post(server.url + "/chat", json={"message": "slow", "user_id": "enzo"})
        )
        await asyncio.sleep(0.3)
        server.process.send_signal(signal.SIGTERM)
        close = await asyncio.wait_for(ws.receive(), 10)
        response = await asyncio.wait_for(chat, 10)
        assert response.status == 200, "the in-flight request finished"
        assert (await response.json())["response"] == fake_ollama.answer
        await ws.close()
    assert close.type == aiohttp.WSMsgType.CLOSE and close.data == 1001
    assert await asyncio.wait_for(server.process.wait(), 15) == 0
    actions = [line.get("action") for line in server.logs()]
    assert actions[-1] == "shutdown"
    assert "ws_close" in actions and "chat_success" in actions


# (arguments, environment, config/jarvis.toml in the working directory, what the line names)
BAD_SETTINGS = [
    pytest.param([], {"JARVIS_PORT": "eighty"}, None, "JARVIS_PORT expects an integer", id="env"),
    pytest.param([], {"HEALTH_INTERVAL": "0"}, None, "HEALTH_INTERVAL must be", id="env-spin"),
    pytest.param([], {"TRUSTED_PROXY_HOPS": "-5"}, None, "TRUSTED_PROXY_HOPS", id="env-hops"),
    pytest.param([], {"RATE_LIMIT_PER_MINUTE": "-1"}, None, "RATE_LIMIT_PER_MINUTE", id="env-rate"),
    pytest.param([], {"JARVIS_CONFIG": "/nope.toml"}, None, "/nope.toml (from JARVIS_CONFIG)",
                 id="env-config-missing"),
    pytest.param([], {}, "[server]\nport = 70000\n", "config/jarvis.toml: [server] port must",
                 id="file-key"),
    pytest.param([], {}, "[server]\nhealth_interval = 0\n",
                 "config/jarvis.toml: [server] health_interval", id="file-key-spin"),
    pytest.param([], {}, "[server]\nport = \n", "config/jarvis.toml is not valid TOML",
                 id="file-syntax"),
    pytest.param([], {}, "[server]\nprot = 1\n", "unknown setting 'prot'", id="file-unknown"),
    pytest.param(["--config", "/nope.toml"], {}, None, "/nope.toml (from --config)",
                 id="flag-config-missing"),
    pytest.param(["--port", "abc"], {}, None, "--port expects an integer", id="flag"),
    pytest.param(["--port", "0"], {"JARVIS_PORT": "8000"}, None, "--port must be a TCP port",
                 id="flag-range"),
    pytest.param(["--llm", "gpt"], {}, None, "argument --llm: invalid choice", id="flag-choice"),
]  # fmt: skip


@pytest.mark.parametrize(("argv", "environ", "config", "named"), BAD_SETTINGS)
@pytest.mark.parametrize("command", [["serve"], ["config", "check"]])
def test_a_bad_setting_is_one_line_naming_its_source_and_exit_2(
    tmp_path, command, argv, environ, config, named
):
    if config is not None:
        (tmp_path / "config").mkdir()
        (tmp_path / "config" / "jarvis.toml").write_text(config)
    result = run_command("jarvis", *command, *argv, cwd=tmp_path, env=environ)
    line = refusal_line(result, "jarvis")
    assert named in line
    assert result.stdout == ""


async def test_a_port_in_use_is_one_line_naming_it_and_nothing_is_ready(tmp_path):
    port = free_port()
    blocker = await asyncio.start_server(lambda r, w: None, "127.0.0.1", port)
    try:
        result = await asyncio.to_thread(
            run_command,
            "jarvis", "serve", "--port", str(port), cwd=tmp_path,
            env={"JARVIS_LLM": "echo", "MEMORY_PATH": str(tmp_path / "m.db"),
                 "LOG_FILE": str(tmp_path / "jarvis.jsonl")},
        )  # fmt: skip
    finally:
        blocker.close()
    line = refusal_line(result, "jarvis")
    assert f"cannot listen on 127.0.0.1:{port}" in line and "flag --port" in line
    # Nothing is logged, least of all "jarvis ready": not on stdout, not in LOG_FILE.
    assert result.stdout == ""
    assert not (tmp_path / "jarvis.jsonl").exists()


async def test_the_config_file_is_read_and_the_environment_wins(tmp_path):
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "jarvis.toml").write_text(
        '[server]\nrequest_id_header = "X-Trace"\nrate_limit_burst = 1\n'
    )
    server = await start_jarvis_serve(tmp_path, env={"RATE_LIMIT_BURST": "2"})
    try:
        async with aiohttp.ClientSession() as session:
            statuses = []
            for _ in range(3):
                async with session.post(
                    server.url + "/chat", json={"message": "x", "user_id": "enzo"}
                ) as response:
                    statuses.append(response.status)
                    assert "X-Trace" in response.headers
    finally:
        await server.terminate()
    assert statuses == [200, 200, 429]
