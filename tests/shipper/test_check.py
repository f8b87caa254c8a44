"""``jarvis-shipper check`` as an operator runs it before deploying: one line per check, ok or
FAILED with the reason, exit 0 only when every check passed."""

from __future__ import annotations

import asyncio
from pathlib import Path

from elasticsearch import AsyncElasticsearch
from support.elasticsearch_node import free_port
from support.refusals import run_command

from shipper.check import CHECK_INDEX_PREFIX
from shipper.sink.index_template import TEMPLATE_NAME


def check_lines(stdout: str) -> dict[str, str]:
    """``{check: outcome}`` from ``name ... outcome`` lines."""
    return dict(line.split(" ... ", 1) for line in stdout.splitlines())


async def run_check(tmp_path: Path, *options: str) -> tuple[int, dict[str, str]]:
    result = await asyncio.to_thread(
        run_command,
        "jarvis-shipper", "check", "--path", str(tmp_path / "logs" / "app.jsonl"),
        "--state-dir", str(tmp_path / "state"), *options, cwd=tmp_path,
    )  # fmt: skip
    assert result.stderr == "" and "Traceback" not in result.stdout, result.stderr
    return result.returncode, check_lines(result.stdout)


async def test_every_check_passes_against_a_running_elasticsearch(
    tmp_path: Path, es_url: str, es_client: AsyncElasticsearch
) -> None:
    (tmp_path / "logs").mkdir()
    (tmp_path / "logs" / "app.jsonl").write_text('{"message": "hello"}\n')
    status, lines = await run_check(tmp_path, "--elasticsearch-url", es_url)
    assert status == 0, lines
    assert lines == {
        "configuration": f"ok (elasticsearch {es_url})",
        f"log files {tmp_path / 'logs' / 'app.jsonl'}": "ok (1 file readable)",
        f"state directory {tmp_path / 'state'}": "ok (writable)",
        f"elasticsearch {es_url}": lines[f"elasticsearch {es_url}"],
        f"index template {TEMPLATE_NAME}": "ok (installed)",
        "writes to jarvis-logs-*": lines["writes to jarvis-logs-*"],
    }
    assert lines[f"elasticsearch {es_url}"].startswith("ok (Elasticsearch ")
    assert lines["writes to jarvis-logs-*"].endswith("index deleted)")
    # The template is there, as the shipper installs it; the probe's index is gone.
    assert await es_client.indices.exists_index_template(name=TEMPLATE_NAME)
    left = await es_client.indices.get(index=CHECK_INDEX_PREFIX + "*", expand_wildcards="all")
    assert not left.body


async def test_a_closed_port_fails_the_elasticsearch_check_and_exits_2(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    status, lines = await run_check(tmp_path, "--elasticsearch-url", url)
    assert status == 2
    assert lines[f"elasticsearch {url}"].startswith("FAILED: Cannot connect to host")
    assert lines[f"index template {TEMPLATE_NAME}"].startswith("skipped")
    assert lines["writes to jarvis-logs-*"].startswith("skipped")
    # What does not depend on Elasticsearch is still checked.
    assert lines[f"state directory {tmp_path / 'state'}"] == "ok (writable)"


async def test_a_state_directory_that_cannot_be_created_fails_its_check(
    tmp_path: Path, es_url: str, es_client: AsyncElasticsearch
) -> None:
    (tmp_path / "a-file").write_text("")
    status, lines = await run_check(
        tmp_path, "--elasticsearch-url", es_url, "--state-dir", str(tmp_path / "a-file" / "state")
    )
    assert status == 2
    assert lines[f"state directory {tmp_path / 'a-file' / 'state'}"] == (
        "FAILED: not writable: Not a directory"
    )
    assert lines[f"elasticsearch {es_url}"].startswith("ok")


async def test_a_log_file_that_is_a_link_fails_its_check_naming_it(tmp_path: Path) -> None:
    """The shipper reads no file through a link: told before deploying, not found out from
    a warning once nothing is shipped."""
    (tmp_path / "logs").mkdir()
    target = tmp_path / "elsewhere.jsonl"
    target.write_text('{"message": "hello"}\n')
    (tmp_path / "logs" / "app.jsonl").symlink_to(target)
    url = f"http://127.0.0.1:{free_port()}"
    status, lines = await run_check(tmp_path, "--elasticsearch-url", url)
    assert status == 2
    outcome = lines[f"log files {tmp_path / 'logs' / 'app.jsonl'}"]
    assert outcome.startswith(f"FAILED: cannot read {tmp_path / 'logs' / 'app.jsonl'}: ")
    assert "a symbolic link" in outcome
