"""Log lines shaped as the server writes them (the contract), for one request or many."""

from __future__ import annotations

import gzip
import itertools
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import orjson

_line_numbers = itertools.count(10)


def log_line(
    timestamp: float,
    logger: str,
    message: str,
    *,
    request_id: str | None = None,
    level: str = "INFO",
    **fields: Any,
) -> dict[str, Any]:
    """One JSON log line: the fields every line has, then the given extra fields."""
    line: dict[str, Any] = {
        "timestamp": timestamp,
        "level": level,
        "logger": logger,
        "message": message,
        "module": logger.rsplit(".", 1)[-1],
        "function": "handle",
        "line": next(_line_numbers),
    }
    if request_id is not None:
        line["request_id"] = request_id
    line.update(fields)
    return line


def http_chat_request(request_id: str, start: float, user_id: str) -> list[dict[str, Any]]:
    """What a successful POST /chat logs: chat_request, chat_success, then the access line."""
    return [
        log_line(
            start,
            "jarvis.chat",
            "chat request received",
            request_id=request_id,
            action="chat_request",
            user_id=user_id,
            message_length=27,
            transport="http",
        ),
        log_line(
            start + 0.75,
            "jarvis.chat",
            "chat answered",
            request_id=request_id,
            action="chat_success",
            user_id=user_id,
            response_length=120,
            llm_seconds=0.7,
            transport="http",
        ),
        log_line(
            start + 0.76,
            "jarvis.access",
            "POST /chat 200",
            request_id=request_id,
            action="http_access",
            method="POST",
            path="/chat",
            route="/chat",
            status=200,
            duration_ms=760.0,
            bytes=180,
            client="127.0.0.1",
            user_agent="curl/8.5",
        ),
    ]


def failed_chat(request_id: str, start: float, user_id: str) -> list[dict[str, Any]]:
    """A POST /chat whose LLM call failed: the error carries a traceback."""
    return [
        log_line(
            start,
            "jarvis.chat",
            "chat request received",
            request_id=request_id,
            action="chat_request",
            user_id=user_id,
            message_length=12,
            transport="http",
        ),
        log_line(
            start + 0.2,
            "jarvis.chat",
            "chat failed",
            request_id=request_id,
            level="ERROR",
            action="chat_error",
            user_id=user_id,
            stage="llm",
            error="LLMTimeout",
            exc_type="LLMTimeout",
            exc_message="read timeout after 60s",
            traceback=(
                "Traceback (most recent call last):\n"
                '  File "jarvis/chat/service.py", line 42, in answer\n'
                "    reply = await llm.generate(messages)\n"
                "LLMTimeout: read timeout after 60s\n"
            ),
        ),
        log_line(
            start + 0.21,
            "jarvis.access",
            "POST /chat 504",
            request_id=request_id,
            action="http_access",
            method="POST",
            path="/chat",
            route="/chat",
            status=504,
            duration_ms=210.0,
            bytes=60,
            client="127.0.0.1",
            user_agent="curl/8.5",
        ),
    ]


def websocket_session(
    request_id: str, start: float, user_id: str, exchanges: int
) -> list[dict[str, Any]]:
    """A WebSocket session with ``exchanges`` chat turns: 3 + 4 × exchanges lines."""
    lines = [
        log_line(
            start, "jarvis.ws", "websocket connected", request_id=request_id, action="ws_connect"
        )
    ]
    moment = start
    for turn in range(exchanges):
        moment += 1.0
        lines += [
            log_line(
                moment,
                "jarvis.ws",
                "websocket message",
                request_id=request_id,
                action="ws_message",
                direction="in",
            ),
            log_line(
                moment + 0.001,
                "jarvis.chat",
                f"chat request received turn {turn}",
                request_id=request_id,
                action="chat_request",
                user_id=user_id,
                message_length=10 + turn,
                transport="ws",
            ),
            log_line(
                moment + 0.5,
                "jarvis.chat",
                f"chat answered turn {turn}",
                request_id=request_id,
                action="chat_success",
                user_id=user_id,
                response_length=40 + turn,
                llm_seconds=0.49,
                transport="ws",
            ),
            log_line(
                moment + 0.501,
                "jarvis.ws",
                "websocket message",
                request_id=request_id,
                action="ws_message",
                direction="out",
            ),
        ]
    lines += [
        log_line(
            moment + 2.0,
            "jarvis.ws",
            "websocket closed",
            request_id=request_id,
            action="ws_close",
            close_code=1000,
            messages_in=exchanges,
            messages_out=exchanges,
            duration_ms=(moment + 2.0 - start) * 1000,
        ),
        log_line(
            moment + 2.001,
            "jarvis.access",
            "GET /ws 101",
            request_id=request_id,
            action="http_access",
            method="GET",
            path="/ws",
            route="/ws",
            status=101,
            duration_ms=(moment + 2.001 - start) * 1000,
            bytes=0,
            client="127.0.0.1",
            user_agent="python-websocket",
        ),
    ]
    return lines


def by_time(*groups: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Lines of several requests interleaved as a server writing them would have."""
    return sorted(itertools.chain(*groups), key=lambda line: line["timestamp"])


def write_jsonl(path: Path, lines: Iterable[dict[str, Any]], *, compress: bool = False) -> None:
    """Writes the lines as the server does (one object per line), gzip'd like a backup."""
    data = b"".join(orjson.dumps(line) + b"\n" for line in lines)
    path.write_bytes(gzip.compress(data) if compress else data)
