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

from shipper.cli import main


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


@pytest.mark.parametrize(
    ("argv", "environ", "named"),
    [
        (["--keep", "many"], {}, "--keep expects an integer"),
        (["--batch-size", "0"], {}, "--batch-size"),
        ([], {"SHIPPER_SENDERS": "two"}, "SHIPPER_SENDERS"),
        ([], {"ELASTICSEARCH_TIMEOUT": "soon"}, "ELASTICSEARCH_TIMEOUT"),
        (["--config", "/nonexistent/shipper.toml"], {}, "/nonexistent/shipper.toml"),
        (["--metrics-port", "70000"], {}, "--metrics-port"),
        ([], {"ELASTICSEARCH_URL": "127.0.0.1:9200"}, "ELASTICSEARCH_URL"),
    ],
)
def test_a_bad_setting_is_one_line_on_stderr_and_exit_2(
    argv: list[str],
    environ: dict[str, str],
    named: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for variable, value in environ.items():
        monkeypatch.setenv(variable, value)
    assert main(argv) == 2
    error = capsys.readouterr().err
    assert error.startswith("jarvis-shipper: ") and error.count("\n") == 1
    assert named in error


def test_a_config_file_that_is_not_toml_stops_the_process_with_exit_2(tmp_path: Path) -> None:
    config = tmp_path / "shipper.toml"
    config.write_text("[shipper]\nkeep = \n")
    result = subprocess.run(
        [sys.executable, "-m", "shipper", "--config", str(config)],
        capture_output=True,
        timeout=60,
    )
    assert result.returncode == 2
    (line,) = result.stderr.decode().splitlines()
    assert line.startswith("jarvis-shipper: ") and str(config) in line


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
