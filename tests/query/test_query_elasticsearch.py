"""``jarvis-logs trace`` and ``search`` against a real Elasticsearch node."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from query_documents import PrivateIndices, shipped
from query_log_lines import (
    by_time,
    failed_chat,
    http_chat_request,
    log_line,
    websocket_session,
    write_jsonl,
)
from support.jarvis_logs_cli import jsonl, run_cli

pytestmark = pytest.mark.timeout(180)

SESSION = "0b7e9c1a-ws-session"


@pytest.fixture
async def indices(es_client) -> AsyncIterator[PrivateIndices]:
    private = PrivateIndices(es_client)
    yield private
    await private.delete()


@pytest.fixture
async def busy_day(indices) -> tuple[list[dict], list[dict]]:
    """A long WebSocket session (35 events) among other requests, all indexed.

    Returns (the session's documents in file order, every document).
    """
    start = time.time() - 3 * 3600
    lines = by_time(
        websocket_session(SESSION, start, "enzo", exchanges=8),
        http_chat_request("http-1", start + 0.3, "alice"),
        failed_chat("http-2", start + 2.6, "bob"),
        websocket_session("ws-other", start + 1.2, "carol", exchanges=3),
    )
    documents = shipped(lines)
    await indices.index(documents)
    session = [document for document in documents if document.get("request_id") == SESSION]
    assert len(session) == 35
    return session, documents


@pytest.mark.parametrize("page_size", ["4", "1000"])
async def test_trace_returns_every_event_of_the_session_in_order(
    es_url, indices, busy_day, page_size
):
    session, _ = busy_day
    result = await run_cli(
        "trace",
        SESSION,
        "--json",
        "--es-url",
        es_url,
        "--index",
        indices.pattern,
        "--page-size",
        page_size,
    )
    assert result.status == 0, result.stderr
    assert jsonl(result.stdout) == session


async def test_trace_timeline_reads_as_the_session_happened(es_url, indices, busy_day):
    session, _ = busy_day
    result = await run_cli("trace", SESSION, "--index", indices.pattern, ELASTICSEARCH_URL=es_url)
    assert result.status == 0, result.stderr
    *body, _, summary = result.stdout.splitlines()
    assert summary.startswith(f"Request {SESSION}") and "35 events" in summary
    assert "0 errors" in summary and "user enzo" in summary
    assert len(body) == len(session)
    for line, document in zip(body, session, strict=True):
        assert document["message"] in line and document["action"] in line
    for noise in ("alice", "bob", "carol", "/app/logs", "traced"):
        assert noise not in result.stdout


async def test_events_of_the_same_instant_keep_their_file_order(es_url, indices):
    instant = time.time() - 600
    lines = [
        log_line(instant, "jarvis.chat", f"step {step}", request_id="same-instant", step=step)
        for step in range(15)
    ]
    await indices.index(shipped(lines))
    result = await run_cli(
        "trace",
        "same-instant",
        "--json",
        "--es-url",
        es_url,
        "--index",
        indices.pattern,
        "--page-size",
        "2",
    )
    assert result.status == 0, result.stderr
    assert [event["step"] for event in jsonl(result.stdout)] == list(range(15))


async def test_a_request_across_midnight_is_read_from_both_daily_indices(es_url, indices):
    midnight = datetime(2026, 1, 14, tzinfo=UTC).timestamp()
    lines = websocket_session("midnight-1", midnight - 2.5, "enzo", exchanges=3)
    await indices.index(shipped(lines))
    indexed = await indices.client.indices.get(index=indices.pattern)
    assert len(indexed) == 2
    result = await run_cli(
        "trace", "midnight-1", "--json", "--es-url", es_url, "--index", indices.pattern
    )
    assert result.status == 0, result.stderr
    assert [event["timestamp"] for event in jsonl(result.stdout)] == [
        line["timestamp"] for line in lines
    ]


async def test_trace_shows_the_traceback_of_a_failed_request(es_url, indices, busy_day):
    result = await run_cli("trace", "http-2", "--es-url", es_url, "--index", indices.pattern)
    assert result.status == 0, result.stderr
    assert "1 error" in result.stdout.splitlines()[-1]
    assert "LLMTimeout: read timeout after 60s" in result.stdout
    assert 'File "jarvis/chat/service.py", line 42, in answer' in result.stdout


async def test_an_unknown_request_exits_1(es_url, indices, busy_day):
    result = await run_cli("trace", "not-there-42", "--es-url", es_url, "--index", indices.pattern)
    assert result.status == 1
    assert result.stdout == ""
    assert "no events for request ID not-there-42" in result.stderr


async def test_an_index_pattern_matching_nothing_exits_1(es_url):
    result = await run_cli(
        "trace", SESSION, "--es-url", es_url, "--index", "jarvis-logs-nothing-here-*"
    )
    assert result.status == 1
    assert "no events for request ID" in result.stderr


async def test_search_filters_match_what_the_files_give(es_url, indices, busy_day, tmp_path: Path):
    _, documents = busy_day
    lines = [
        {
            key: value
            for key, value in document.items()
            if key not in ("@timestamp", "tags", "log", "host")
        }
        for document in documents
    ]
    write_jsonl(tmp_path / "jarvis.jsonl", lines)
    cases = {
        ("--user", "enzo"): [line for line in lines if line.get("user_id") == "enzo"],
        ("--level", "ERROR"): [line for line in lines if line["level"] == "ERROR"],
        ("--logger", "jarvis.ws", "--limit", "5"): [
            line for line in lines if line["logger"] == "jarvis.ws"
        ][-5:],
        ("--action", "chat_request", "--user", "carol"): [
            line
            for line in lines
            if line["action"] == "chat_request" and line.get("user_id") == "carol"
        ],
        ("--text", "answered TURN 7"): [
            line for line in lines if line["message"] == "chat answered turn 7"
        ],
        ("--limit", "7"): lines[-7:],
    }
    for filters, expected in cases.items():
        assert expected, filters
        from_es = await run_cli(
            "search", *filters, "--json", "--es-url", es_url, "--index", indices.pattern
        )
        assert from_es.status == 0, (filters, from_es.stderr)
        found = [
            {
                key: value
                for key, value in event.items()
                if key not in ("@timestamp", "tags", "log", "host")
            }
            for event in jsonl(from_es.stdout)
        ]
        assert found == expected, filters
        from_files = await run_cli(
            "search", *filters, "--json", "--source", "files", "--path", str(tmp_path / "*")
        )
        assert jsonl(from_files.stdout) == expected, filters


async def test_search_time_window(es_url, indices):
    now = time.time()
    lines = [
        log_line(now - hours * 3600, "jarvis.chat", f"{hours}h ago", request_id=f"r-{hours}")
        for hours in (50, 20, 5, 1)
    ]
    await indices.index(shipped(lines))
    result = await run_cli(
        "search",
        "--since",
        "1d",
        "--until",
        "2h",
        "--json",
        "--es-url",
        es_url,
        "--index",
        indices.pattern,
    )
    assert result.status == 0, result.stderr
    assert [event["message"] for event in jsonl(result.stdout)] == ["20h ago", "5h ago"]


@pytest.mark.parametrize(
    "filters",
    [
        ("--user", 'enzo" OR user_id:*'),
        ("--user", "*"),
        ("--action", "chat_request OR 1=1"),
        ("--logger", "*"),
        ("--text", "answered OR *:*"),
        ("--text", '{"match_all": {}}'),
    ],
)
async def test_typed_values_cannot_widen_the_query(es_url, indices, busy_day, filters):
    result = await run_cli("search", *filters, "--es-url", es_url, "--index", indices.pattern)
    assert result.status == 1, result.stdout
    assert "no events match" in result.stderr


async def test_search_shows_which_request_each_event_belongs_to(es_url, indices, busy_day):
    result = await run_cli(
        "search", "--action", "chat_error", "--es-url", es_url, "--index", indices.pattern
    )
    assert result.status == 0, result.stderr
    (line,) = [line for line in result.stdout.splitlines() if "chat_error" in line]
    assert "[http-2]" in line and "user_id=bob" in line and "stage=llm" in line
