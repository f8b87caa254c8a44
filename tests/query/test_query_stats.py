"""``jarvis-logs stats``: the seed's KPIs, checked against figures computed from the events."""

from __future__ import annotations

import math
import random
import time
from collections import Counter, defaultdict
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from statistics import mean

import orjson
import pytest
from query_documents import PrivateIndices, shipped
from query_log_lines import log_line
from support.jarvis_logs_cli import run_cli

pytestmark = pytest.mark.timeout(180)

UNKNOWN_USER = "(unknown)"


def usage_log(now: float) -> list[dict]:
    """A few hours of traffic: chats over HTTP and WebSocket, failures at several stages,
    access lines for several routes; plus two-day-old traffic outside the window."""
    chance = random.Random(20260113)
    lines: list[dict] = []

    def chat(moment: float, user: str, transport: str, request: str, failure=None) -> None:
        lines.append(
            log_line(
                moment,
                "jarvis.chat",
                "chat request received",
                request_id=request,
                action="chat_request",
                user_id=user,
                message_length=chance.randint(1, 400),
                transport=transport,
            )
        )
        if failure is None:
            lines.append(
                log_line(
                    moment + 0.5,
                    "jarvis.chat",
                    "chat answered",
                    request_id=request,
                    action="chat_success",
                    user_id=user,
                    response_length=99,
                    llm_seconds=round(chance.uniform(0.2, 9.0), 3),
                    transport=transport,
                )
            )
        else:
            stage, error = failure
            lines.append(
                log_line(
                    moment + 0.1,
                    "jarvis.chat",
                    "chat failed",
                    request_id=request,
                    level="ERROR",
                    action="chat_error",
                    user_id=user,
                    stage=stage,
                    error=error,
                )
            )

    def access(moment: float, route: str, request: str) -> None:
        lines.append(
            log_line(
                moment,
                "jarvis.access",
                f"GET {route}",
                request_id=request,
                action="http_access",
                method="GET",
                path=route,
                route=route,
                status=200,
                duration_ms=round(chance.uniform(0.5, 900.0), 3),
                bytes=10,
                client="127.0.0.1",
                user_agent="test",
            )
        )

    for number in range(60):
        moment = now - 5 * 3600 + number * 280 + chance.uniform(0, 60)
        user = ("enzo", "alice", "bob", "zoe")[number % 4]
        transport = "ws" if user in ("enzo", "zoe") else "http"
        failure = None
        if number % 7 == 3:
            failure = ("llm", "LLMTimeout")
        elif number % 11 == 5:
            failure = ("memory", "MemoryWriteFailed")
        elif number % 13 == 0:
            failure = ("llm", "LLMUnavailable")
        chat(moment, user, transport, f"req-{number}", failure)
        access(moment + 1, "/chat" if transport == "http" else "/ws", f"req-{number}")
        if number % 3 == 0:
            access(moment + 2, "/health", f"health-{number}")
    for number in range(4):
        # Rejected before the user is known: a parse or validation error without user_id.
        moment = now - 2 * 3600 + number * 60
        lines.append(
            log_line(
                moment,
                "jarvis.chat",
                "chat refused",
                request_id=f"bad-{number}",
                level="WARNING",
                action="chat_error",
                stage="validation" if number % 2 else "parse",
                error="bad request",
            )
        )
    for number in range(10):
        chat(now - 2 * 86_400 + number, "ghost", "http", f"old-{number}", ("llm", "LLMTimeout"))
        access(now - 2 * 86_400 + number, "/old", f"old-{number}")
    return sorted(lines, key=lambda line: line["timestamp"])


def hour_of(epoch: float) -> str:
    start = math.floor(epoch / 3600) * 3600
    return datetime.fromtimestamp(start, UTC).isoformat().replace("+00:00", "Z")


def nearest_ranks(values: list[float], percent: float) -> tuple[float, float]:
    """The two values around the percentile's rank: any fair estimate lies between them."""
    ordered = sorted(values)
    rank = percent / 100 * (len(ordered) - 1)
    return ordered[math.floor(rank)], ordered[math.ceil(rank)]


@pytest.fixture
async def indices(es_client) -> AsyncIterator[PrivateIndices]:
    private = PrivateIndices(es_client)
    yield private
    await private.delete()


async def test_stats_figures_match_the_indexed_events(es_url, indices):
    now = time.time()
    everything = usage_log(now)
    await indices.index(shipped(everything))
    result = await run_cli(
        "stats", "--since", "6h", "--json", "--es-url", es_url, "--index", indices.pattern
    )
    assert result.status == 0, result.stderr
    report = orjson.loads(result.stdout)

    window = [line for line in everything if line["timestamp"] >= now - 6 * 3600]
    requests = [line for line in window if line["action"] == "chat_request"]
    errors = [line for line in window if line["action"] == "chat_error"]
    assert report["events"] == len(window)
    assert report["chat_requests"] == len(requests)
    assert report["chat_errors"] == len(errors)

    per_hour = Counter(hour_of(line["timestamp"]) for line in requests)
    reported_hours = {row["hour"]: row["messages"] for row in report["messages_per_hour"]}
    assert {hour: count for hour, count in reported_hours.items() if count} == per_hour
    assert sum(reported_hours.values()) == len(requests)
    assert hour_of(now - 6 * 3600) in reported_hours and hour_of(now) in reported_hours

    assert report["active_users"] == len({line["user_id"] for line in window if "user_id" in line})
    by_transport = defaultdict(set)
    for line in requests:
        by_transport[line["transport"]].add(line["user_id"])
    assert report["active_users_by_transport"] == {
        transport: len(users) for transport, users in by_transport.items()
    }

    errors_by_user = Counter(line.get("user_id", UNKNOWN_USER) for line in errors)
    expected_users = sorted(errors_by_user.items(), key=lambda item: (-item[1], item[0]))
    reported_users = [(row["user_id"], row["errors"]) for row in report["top_errors_per_user"]]
    assert reported_users == expected_users
    for row in report["top_errors_per_user"]:
        kinds = Counter(
            line["error"] for line in errors if line.get("user_id", UNKNOWN_USER) == row["user_id"]
        )
        expected_kinds = sorted(kinds.items(), key=lambda item: (-item[1], item[0]))[:3]
        assert [tuple(pair) for pair in row["top"]] == expected_kinds

    stages = Counter(line["stage"] for line in errors)
    assert {
        row["stage"]: (row["errors"], row["rate"]) for row in report["error_rate_by_stage"]
    } == {stage: (count, pytest.approx(count / len(requests))) for stage, count in stages.items()}

    durations = defaultdict(list)
    for line in window:
        if line["action"] == "http_access":
            durations[line["route"]].append(line["duration_ms"])
    assert {row["route"] for row in report["duration_by_route"]} == set(durations)
    for row in report["duration_by_route"]:
        values = durations[row["route"]]
        assert row["requests"] == len(values)
        assert row["mean_ms"] == pytest.approx(mean(values))
        low, high = nearest_ranks(values, 95)
        assert low - 1e-6 <= row["p95_ms"] <= high + 1e-6

    llm = [line["llm_seconds"] for line in window if line["action"] == "chat_success"]
    assert report["llm_mean_seconds"] == pytest.approx(mean(llm))
    low, high = nearest_ranks(llm, 95)
    assert low - 1e-6 <= report["llm_p95_seconds"] <= high + 1e-6


async def test_stats_table_shows_the_same_figures(es_url, indices):
    now = time.time()
    everything = usage_log(now)
    await indices.index(shipped(everything))
    result = await run_cli("stats", "--since", "6h", "--es-url", es_url, "--index", indices.pattern)
    assert result.status == 0, result.stderr
    window = [line for line in everything if line["timestamp"] >= now - 6 * 3600]
    requests = sum(1 for line in window if line["action"] == "chat_request")
    text = result.stdout
    assert f"{len(window)} events, {requests} chat requests" in text
    users = len({line["user_id"] for line in window if "user_id" in line})
    assert f"Active users: {users}" in text
    llm_errors = sum(1 for line in window if line.get("stage") == "llm")
    assert any(
        row.split()[:3] == ["llm", str(llm_errors), f"{llm_errors / requests:.2%}"]
        for row in text.splitlines()
    )
    assert "ghost" not in text and "/old" not in text


async def test_stats_over_an_empty_window_exits_1(es_url, indices):
    now = time.time()
    await indices.index(shipped(usage_log(now - 30 * 86_400)))
    result = await run_cli("stats", "--since", "1d", "--es-url", es_url, "--index", indices.pattern)
    assert result.status == 1
    assert "no events" in result.stderr
