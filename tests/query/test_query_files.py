"""``jarvis-logs --source files``: the live log file and its gzip backups, no Elasticsearch."""

from __future__ import annotations

import gzip
import os
import time
from pathlib import Path

import orjson
import pytest
from query_log_lines import (
    by_time,
    failed_chat,
    http_chat_request,
    log_line,
    websocket_session,
    write_jsonl,
)
from support.jarvis_logs_cli import jsonl, run_cli

pytestmark = pytest.mark.timeout(120)

TRACED = "9f1c2d3e-4b5a-6789-abcd-ef0123456789"


@pytest.fixture
def rotated_logs(tmp_path: Path) -> tuple[Path, list[dict], list[dict]]:
    """A WebSocket session that spans a rotation: its first half is in a .gz backup.

    The backup is given the newer modification time, so only the events' own timestamps can
    put its lines first.
    """
    start = time.time() - 3600
    session = websocket_session(TRACED, start, "enzo", exchanges=6)
    others = http_chat_request("other-1", start + 0.5, "alice") + websocket_session(
        "other-2", start + 2.2, "bob", exchanges=3
    )
    everything = by_time(session, others)
    cut = len(everything) // 2
    live = tmp_path / "jarvis.jsonl"
    backup = tmp_path / "jarvis.jsonl.1.gz"
    write_jsonl(backup, everything[:cut], compress=True)
    write_jsonl(live, everything[cut:])
    os.utime(live, (start, start))
    assert any(line.get("request_id") == TRACED for line in everything[:cut])
    assert any(line.get("request_id") == TRACED for line in everything[cut:])
    return tmp_path, session, everything


async def test_trace_finds_every_line_of_the_request_across_live_file_and_gz_backup(
    rotated_logs,
):
    directory, session, _ = rotated_logs
    result = await run_cli(
        "trace", TRACED, "--source", "files", "--path", str(directory / "jarvis.jsonl*"), "--json"
    )
    assert result.status == 0, result.stderr
    assert jsonl(result.stdout) == session


async def test_trace_timeline_shows_each_event_in_order_with_gaps(rotated_logs):
    directory, session, _ = rotated_logs
    result = await run_cli(
        "trace", TRACED, "--source", "files", "--path", str(directory / "jarvis.jsonl*")
    )
    assert result.status == 0, result.stderr
    assert "\x1b[" not in result.stdout, "no colour when stdout is not a terminal"
    lines = result.stdout.splitlines()
    assert lines[-1].startswith(f"Request {TRACED}")
    assert f"{len(session)} events" in lines[-1]
    assert "user enzo" in lines[-1]
    body = [line for line in lines[:-1] if line.strip()]
    assert len(body) == len(session)
    for line, event in zip(body, session, strict=True):
        assert event["message"] in line
        assert event["action"] in line
        assert event["logger"] in line
    # The close line carries its extra fields; the second line shows the gap since the first.
    close_line = next(line for line in body if "ws_close" in line)
    assert "close_code=1000" in close_line and "messages_in=6" in close_line
    assert "+1.000s" in body[1]
    assert "other-1" not in result.stdout and "alice" not in result.stdout


async def test_trace_shows_an_error_with_its_traceback(tmp_path):
    start = time.time() - 60
    write_jsonl(
        tmp_path / "jarvis.jsonl",
        by_time(failed_chat("req-err-1", start, "enzo"), http_chat_request("ok-1", start, "zoe")),
    )
    result = await run_cli(
        "trace", "req-err-1", "--source", "files", "--path", str(tmp_path / "jarvis.jsonl*")
    )
    assert result.status == 0, result.stderr
    assert "1 error" in result.stdout.splitlines()[-1]
    error_line = next(line for line in result.stdout.splitlines() if "chat_error" in line)
    assert error_line.startswith("!") and "ERROR" in error_line and "stage=llm" in error_line
    assert "LLMTimeout: read timeout after 60s" in result.stdout
    assert "reply = await llm.generate(messages)" in result.stdout


async def test_trace_of_an_unknown_request_exits_1(rotated_logs):
    directory, _, _ = rotated_logs
    result = await run_cli(
        "trace", "never-seen", "--source", "files", "--path", str(directory / "jarvis.jsonl*")
    )
    assert result.status == 1
    assert result.stdout == ""
    assert "no events for request ID never-seen" in result.stderr
    assert "Traceback" not in result.stderr


async def test_a_path_matching_no_file_is_an_error_not_an_empty_result(tmp_path):
    result = await run_cli(
        "trace", TRACED, "--source", "files", "--path", str(tmp_path / "missing.jsonl*")
    )
    assert result.status == 2
    (line,) = result.stderr.splitlines()
    assert line.startswith("jarvis-logs: no log file matches") and "Traceback" not in line


async def test_damaged_lines_and_a_cut_backup_do_not_hide_the_rest(tmp_path):
    start = time.time() - 600
    session = http_chat_request(TRACED, start, "enzo")
    whole = gzip.compress(b"".join(orjson.dumps(line) + b"\n" for line in session[:2]))
    (tmp_path / "jarvis.jsonl.2.gz").write_bytes(whole)
    # A backup cut short, as if compression were still running: its lines are readable.
    cut = gzip.compress(orjson.dumps(session[1]) + b"\n" + b"x" * 5000)
    (tmp_path / "jarvis.jsonl.1.gz").write_bytes(cut[: len(cut) // 2])
    (tmp_path / "jarvis.jsonl").write_bytes(
        b'{"timestamp": 1, "request_id": "'
        + TRACED.encode()
        + b'", "level": \n'
        + orjson.dumps(session[2])
        + b"\n"
    )
    result = await run_cli(
        "trace", TRACED, "--source", "files", "--path", str(tmp_path / "jarvis.jsonl*"), "--json"
    )
    assert result.status == 0, result.stderr
    found = jsonl(result.stdout)
    assert found[0] == session[0]
    assert found[-1] == session[2]
    assert all(event in session for event in found)
    assert "skipped 1 lines" in result.stderr
    assert "jarvis.jsonl.1.gz ends early" in result.stderr


async def test_search_files_applies_every_filter(tmp_path):
    start = time.time() - 7200
    old = http_chat_request("old-1", start - 86_400, "enzo")
    recent = by_time(
        http_chat_request("a-1", start, "enzo"),
        failed_chat("a-2", start + 10, "enzo"),
        failed_chat("b-1", start + 20, "bob"),
        websocket_session("a-3", start + 30, "enzo", exchanges=2),
    )
    write_jsonl(tmp_path / "jarvis.jsonl.1.gz", old, compress=True)
    write_jsonl(tmp_path / "jarvis.jsonl", recent)
    pattern = str(tmp_path / "jarvis.jsonl*")

    async def search(*filters: str) -> list[dict]:
        result = await run_cli("search", "--source", "files", "--path", pattern, "--json", *filters)
        assert result.status == 0, result.stderr
        return jsonl(result.stdout)

    enzo = [line for line in by_time(old, recent) if line.get("user_id") == "enzo"]
    assert await search("--user", "enzo") == enzo
    assert await search("--user", "enzo", "--since", "1d") == [
        line for line in enzo if line not in old
    ]
    errors = [line for line in recent if line["level"] == "ERROR"]
    assert await search("--level", "warning") == errors
    assert await search("--action", "chat_error", "--user", "bob") == [
        line for line in errors if line["user_id"] == "bob"
    ]
    assert await search("--logger", "jarvis.ws") == [
        line for line in recent if line["logger"] == "jarvis.ws"
    ]
    assert await search("--text", "ANSWERED turn") == [
        line for line in recent if line["message"].startswith("chat answered turn")
    ]
    everything = by_time(old, recent)
    assert await search("--limit", "3") == everything[-3:]


async def test_search_with_nothing_matching_exits_1(tmp_path):
    write_jsonl(tmp_path / "jarvis.jsonl", http_chat_request("a-1", time.time(), "enzo"))
    result = await run_cli(
        "search", "--source", "files", "--path", str(tmp_path / "jarvis.jsonl*"), "--user", "nobody"
    )
    assert result.status == 1
    assert "no events match" in result.stderr


async def test_text_from_the_logs_cannot_drive_the_terminal(tmp_path):
    hostile = log_line(
        time.time(),
        "jarvis.access",
        "GET / 404",
        request_id="req-1",
        user_agent="evil\x1b]0;pwned\x07\x1b[2J",
    )
    write_jsonl(tmp_path / "jarvis.jsonl", [hostile])
    result = await run_cli(
        "trace", "req-1", "--source", "files", "--path", str(tmp_path / "jarvis.jsonl*")
    )
    assert result.status == 0, result.stderr
    assert "\x1b" not in result.stdout and "\x07" not in result.stdout
    assert "evil\\x1b]0;pwned\\x07\\x1b[2J" in result.stdout


async def test_a_backup_caught_mid_compression_is_read_once(tmp_path):
    """The shipper writes ``.1.gz.tmp``, renames it to ``.1.gz``, then deletes ``.1``."""
    start = time.time() - 300
    first = http_chat_request(TRACED, start, "enzo")
    second = http_chat_request(TRACED, start + 5, "enzo")
    write_jsonl(tmp_path / "jarvis.jsonl.1", first)
    write_jsonl(tmp_path / "jarvis.jsonl.1.gz", first, compress=True)
    write_jsonl(tmp_path / "jarvis.jsonl.1.gz.tmp", first[:1], compress=True)
    write_jsonl(tmp_path / "jarvis.jsonl", second)
    result = await run_cli(
        "trace", TRACED, "--json", "--source", "files", "--path", str(tmp_path / "jarvis.jsonl*")
    )
    assert result.status == 0, result.stderr
    assert jsonl(result.stdout) == first + second


async def test_a_half_written_last_line_of_the_live_file_is_not_read_yet(tmp_path):
    """The server may be mid-write: the line counts once its newline is on disk."""
    complete = http_chat_request("abc", time.time() - 60, "enzo")
    write_jsonl(tmp_path / "jarvis.jsonl", complete)
    with (tmp_path / "jarvis.jsonl").open("ab") as live:
        live.write(b'{"request_id":"abc","mess')
    pattern = str(tmp_path / "jarvis.jsonl*")
    for command in (["trace", "abc"], ["search"]):
        result = await run_cli(*command, "--source", "files", "--path", pattern, "--json")
        assert result.status == 0, result.stderr
        assert jsonl(result.stdout) == complete
        assert "skipped" not in result.stderr


async def test_a_line_nested_too_deeply_is_skipped_as_not_json(tmp_path):
    lines = http_chat_request(TRACED, time.time() - 60, "enzo")
    (tmp_path / "jarvis.jsonl").write_bytes(
        orjson.dumps(lines[0])
        + b"\n"
        + b"[" * 100_000
        + b"\n"
        + b"[" * 100_000
        + b"]" * 100_000
        + b"\n"
        + b"".join(orjson.dumps(line) + b"\n" for line in lines[1:])
    )
    result = await run_cli(
        "search", "--source", "files", "--path", str(tmp_path / "jarvis.jsonl*"), "--json"
    )
    assert result.status == 0, result.stderr
    assert jsonl(result.stdout) == lines
    assert "skipped 2 lines that are not JSON objects" in result.stderr
    assert "Traceback" not in result.stderr


async def test_a_fifo_or_a_link_among_the_files_is_not_read_and_the_rest_is(rotated_logs):
    """A FIFO would make the command wait for a writer forever; a link could show another
    file's text under a log file's name: neither is read, as the shipper reads neither."""
    directory, session, _ = rotated_logs
    outside = directory / "outside"
    outside.mkdir()
    leaked = http_chat_request(TRACED, time.time() - 1800, "mallory")
    write_jsonl(outside / "secret.jsonl", leaked)
    os.symlink(outside / "secret.jsonl", directory / "jarvis.jsonl.2")
    os.mkfifo(directory / "jarvis.jsonl.3")
    result = await run_cli(
        "trace", TRACED, "--source", "files", "--path", str(directory / "jarvis.jsonl*"), "--json"
    )
    assert result.status == 0, result.stderr
    assert jsonl(result.stdout) == session
