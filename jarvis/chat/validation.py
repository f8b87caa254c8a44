"""Turns a raw chat payload into a ``ChatInput`` or a ``ChatInputError`` a client can act on."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import orjson

# User IDs appear in logs, Elasticsearch and rate-limit keys: a plain charset keeps them safe.
_USER_ID = re.compile(r"[A-Za-z0-9._@:+\-]+")


@dataclass(frozen=True)
class ChatInput:
    message: str
    user_id: str


class ChatInputError(Exception):
    """Bad input from the client. ``stage`` is the ``chat_errors_total`` label."""

    def __init__(self, stage: str, detail: str, user_id: str | None = None) -> None:
        super().__init__(detail)
        self.stage = stage
        self.detail = detail
        self.user_id = user_id


def decode_json(raw: bytes | str) -> Any:
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise ChatInputError("parse", f"body is not valid JSON: {exc.msg}") from None


def claimed_user_id(payload: Any) -> str | None:
    """The payload's ``user_id`` if it is a well-formed one, else None (then the client is
    identified by its address, e.g. for rate limiting)."""
    if isinstance(payload, dict):
        user_id = payload.get("user_id")
        if isinstance(user_id, str) and 0 < len(user_id) <= 128 and _USER_ID.fullmatch(user_id):
            return user_id
    return None


def validate_chat_payload(
    payload: Any, max_message_chars: int, max_user_id_chars: int
) -> ChatInput:
    """Check a decoded payload has a non-empty ``message`` and a well-formed ``user_id``."""
    if not isinstance(payload, dict):
        raise ChatInputError("validation", "body must be a JSON object")
    user_id = payload.get("user_id")
    message = payload.get("message")
    known_user = claimed_user_id(payload)
    problems = []
    if "message" not in payload:
        problems.append("'message' is required")
    elif not isinstance(message, str):
        problems.append("'message' must be a string")
    elif not message.strip():
        problems.append("'message' must not be empty")
    elif len(message) > max_message_chars:
        problems.append(f"'message' is longer than {max_message_chars} characters")
    if "user_id" not in payload:
        problems.append("'user_id' is required")
    elif not isinstance(user_id, str):
        problems.append("'user_id' must be a string")
    elif not user_id or len(user_id) > max_user_id_chars or not _USER_ID.fullmatch(user_id):
        problems.append(
            f"'user_id' must be 1-{max_user_id_chars} characters of letters, digits and ._@:+-"
        )
    if problems:
        raise ChatInputError("validation", "; ".join(problems), user_id=known_user)
    assert isinstance(message, str) and isinstance(user_id, str)
    return ChatInput(message=message, user_id=user_id)
