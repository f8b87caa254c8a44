"""``python -m shipper`` as a real process against a real Elasticsearch: every line written
is stored exactly once, through steady load, kill -9 and restart, SIGTERM; a setting it
cannot use stops it at once, with one line saying which."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
from pathlib import Path

import orjson
import pytest
from elasticsearch import AsyncElasticsearch
from shipper_harness import (
    assert_exactly_once,
    markers_in_elasticsearch,
    markers_on_disk,
    run_writer,
    wait_for_metric,
    writer_markers,
)
from support.refusals import refusal_line, run_command


async def test_steady_writing_of_100k_lines_is_stored_exactly_once(
    tmp_path: Path, es_client: AsyncElasticsearch, shippers
) -> None:
    shipper = shippers()
    shipper.start()
    await shipper.status_port()
    writer = await run_writer(tmp_path / "app.jsonl", 100_000, "steady")
    assert await writer.wait() == 0
    written = markers_on_disk(tmp_path)
    await shipper.wait_until_caught_up(len(written))
    assert_exactly_once(await markers_in_elasticsearch(es_client), written)
    assert await shipper.stop() == 0


async def test_kill_9_mid_batch_then_restart_loses_and_duplicates_nothing(
    tmp_path: Path, es_client: AsyncElasticsearch, shippers
) -> None:
    shipper = shippers(batch_size="500")
    shipper.start()
    await shipper.status_port()
    writer = await run_writer(tmp_path / "app.jsonl", 40_000, "kill9")
    for _ in range(600):
        metrics = await shipper.metrics()
        if metrics["shipper_events_shipped_total"] >= 2_000:
            break
        await asyncio.sleep(0.05)
    shipper.kill()
    assert await writer.wait() == 0
    shipper.start()
    await shipper.status_port()
    written = markers_on_disk(tmp_path)
    # The restarted shipper resumes from the registry: it need not ship everything again.
    await shipper.wait_until_caught_up(1)
    for _ in range(600):
        if len(await markers_in_elasticsearch(es_client)) >= len(written):
            break
        await asyncio.sleep(0.2)
    await shipper.wait_until_caught_up(1)
    assert_exactly_once(await markers_in_elasticsearch(es_client), written)
    assert await shipper.stop() == 0


async def test_sigterm_saves_the_registry_and_exits_0(
    tmp_path: Path, es_client: AsyncElasticsearch, shippers
) -> None:
    shipper = shippers()
    shipper.start()
    await shipper.status_port()
    writer = await run_writer(tmp_path / "app.jsonl", 1_000, "term")
    assert await writer.wait() == 0
    await shipper.wait_until_caught_up(1_000)
    assert await shipper.stop() == 0
    registry = (tmp_path / "state" / "registry.json").read_text()
    assert str((tmp_path / "app.jsonl").stat().st_size) in registry
    # A second run finds nothing new to ship.
    shipper.start()
    await shipper.status_port()
    await asyncio.sleep(1.0)
    metrics = await shipper.metrics()
    assert metrics["shipper_events_read_total"] == 0
    assert await shipper.stop() == 0
    assert_exactly_once(await markers_in_elasticsearch(es_client), markers_on_disk(tmp_path))


async def test_sigterm_while_elasticsearch_is_down_exits_0_and_loses_nothing(
    tmp_path: Path, es_client: AsyncElasticsearch, elasticsearch_node, shippers
) -> None:
    log = tmp_path / "app.jsonl"
    shipper = shippers(shutdown_timeout="2")
    shipper.start()
    await shipper.status_port()
    await elasticsearch_node.astop()
    try:
        writer = await run_writer(log, 2_000, "down")
        assert await writer.wait() == 0
        await wait_for_metric(shipper, "shipper_events_read_total", lambda read: read == 2_000)
        assert await shipper.stop() == 0
        assert any("shutdown timeout" in str(e.get("message")) for e in shipper.own_logs())
    finally:
        await elasticsearch_node.astart()
    shipper.start()
    await shipper.status_port()
    await shipper.wait_until_caught_up(2_000)
    assert_exactly_once(await markers_in_elasticsearch(es_client), writer_markers("down", 2_000))
    assert await shipper.stop() == 0


async def test_a_half_written_last_line_is_shipped_whole_after_a_restart(
    tmp_path: Path, es_client: AsyncElasticsearch, shippers
) -> None:
    log = tmp_path / "app.jsonl"
    first = orjson.dumps({"timestamp": 1705123456.0, "marker": "first"}) + b"\n"
    last = orjson.dumps({"timestamp": 1705123457.0, "marker": "last", "message": "m" * 500})
    log.write_bytes(first + last[:200])
    shipper = shippers()
    shipper.start()
    await wait_for_metric(shipper, "shipper_events_shipped_total", lambda shipped: shipped == 1)
    # What is left unacknowledged is the half line, and only it.
    assert (await shipper.metrics())["shipper_lag_bytes"] == 200
    shipper.kill()
    with log.open("ab") as stream:
        stream.write(last[200:] + b"\n")
    shipper.start()
    await shipper.status_port()
    await shipper.wait_until_caught_up(1)
    assert_exactly_once(await markers_in_elasticsearch(es_client), ["first", "last"])
    assert await shipper.stop() == 0


# (arguments, environment, config/shipper.toml in the working directory, what the line names)
BAD_SETTINGS = [
    pytest.param([], {"SHIPPER_SENDERS": "two"}, None, "SHIPPER_SENDERS expects an integer",
                 id="env"),
    pytest.param([], {"SHIPPER_BATCH_SIZE": "0"}, None, "SHIPPER_BATCH_SIZE must be more than 0",
                 id="env-range"),
    pytest.param([], {"ELASTICSEARCH_TIMEOUT": "abc"}, None,
                 "ELASTICSEARCH_TIMEOUT expects a number", id="env-timeout"),
    pytest.param([], {"ELASTICSEARCH_URL": "127.0.0.1:9200"}, None,
                 "ELASTICSEARCH_URL must be node URLs", id="env-url-scheme"),
    pytest.param([], {"ELASTICSEARCH_CA_CERTS": "/nope.pem"}, None, "ELASTICSEARCH_CA_CERTS",
                 id="env-ca-certs"),
    pytest.param([], {"SHIPPER_CONFIG": "/nope.toml"}, None, "/nope.toml (from SHIPPER_CONFIG)",
                 id="env-config-missing"),
    pytest.param([], {}, "[shipper]\nkeep = 'many'\n",
                 "config/shipper.toml: [shipper] keep expects an integer", id="file-key"),
    pytest.param([], {}, "[shipper]\nmetrics_port = 70000\n",
                 "config/shipper.toml: [shipper] metrics_port must be a TCP port",
                 id="file-key-range"),
    pytest.param([], {}, "[elasticsearch]\nurl = 'localhost:9200'\n",
                 "config/shipper.toml: [elasticsearch] url must be node URLs", id="file-url"),
    pytest.param([], {}, "[shipper]\nkeep = \n", "config/shipper.toml is not valid TOML",
                 id="file-syntax"),
    pytest.param([], {}, "[shipper]\nbatch_sise = 1\n", "unknown setting 'batch_sise'",
                 id="file-unknown"),
    pytest.param(["--keep", "many"], {}, None, "--keep expects an integer", id="flag"),
    pytest.param(["--metrics-port", "70000"], {}, None, "--metrics-port must be a TCP port",
                 id="flag-port-range"),
    pytest.param(["--elasticsearch-url", "http://u:s3cret@h:99999"], {}, None,
                 "--elasticsearch-url must be node URLs", id="flag-url-port"),
    pytest.param(["--es-url", "localhost:9200"], {}, None, "--elasticsearch-url must be",
                 id="flag-url-alias"),
    pytest.param(["--config", "/nope.toml"], {}, None, "/nope.toml (from --config)",
                 id="flag-config-missing"),
    pytest.param(["--bogus"], {}, None, "unrecognized arguments: --bogus", id="flag-unknown"),
]  # fmt: skip


@pytest.mark.parametrize(("argv", "environ", "config", "named"), BAD_SETTINGS)
@pytest.mark.parametrize("command", [[], ["check"]], ids=["run", "check"])
def test_a_bad_setting_is_one_line_naming_its_source_and_exit_2(
    tmp_path: Path,
    command: list[str],
    argv: list[str],
    environ: dict[str, str],
    config: str | None,
    named: str,
) -> None:
    if config is not None:
        (tmp_path / "config").mkdir()
        (tmp_path / "config" / "shipper.toml").write_text(config)
    result = run_command("jarvis-shipper", *command, *argv, cwd=tmp_path, env=environ)
    line = refusal_line(result, "jarvis-shipper")
    assert named in line
    assert "s3cret" not in line
    assert result.stdout == ""


def test_a_taken_status_port_is_one_line_and_exit_2(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        options = ["--state-dir", str(tmp_path / "state"), "--metrics-port", str(port)]
        result = subprocess.run(
            [sys.executable, "-m", "shipper", "--path", str(tmp_path / "app.jsonl"), *options],
            capture_output=True,
            timeout=60,
        )
    assert result.returncode == 2
    (line,) = result.stderr.decode().splitlines()
    error = orjson.loads(line)
    assert error["level"] == "ERROR" and f"127.0.0.1:{port}" in error["message"]
    assert "--metrics-port" in error["message"] and "traceback" not in error
    assert "started" not in result.stderr.decode()


def test_a_registry_that_cannot_be_read_is_one_line_and_exit_2(tmp_path: Path) -> None:
    (tmp_path / "state" / "registry.json").mkdir(parents=True)  # a mistaken volume mount
    options = ["--state-dir", str(tmp_path / "state"), "--metrics-port", "0"]
    result = subprocess.run(
        [sys.executable, "-m", "shipper", "--path", str(tmp_path / "app.jsonl"), *options],
        capture_output=True,
        timeout=60,
    )
    assert result.returncode == 2
    lines = result.stderr.decode().splitlines()
    error = orjson.loads(lines[-1])
    assert error["level"] == "ERROR" and "registry.json cannot be read" in error["message"]
    assert "Is a directory" in error["message"] and "traceback" not in error
