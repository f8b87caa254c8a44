"""One intake for every chat, whatever its transport: decode → user → rate limit → validate.

The HTTP and WebSocket handlers hand it their raw body or frame and translate what comes back:
a ``ChatInput`` to answer, a ``ChatInputError`` to report with its stage, or ``RateLimited``
to refuse with a delay. Every refusal is already counted and logged here, so both transports
check the same things in the same order, count them the same way and give the same errors.
"""

from __future__ import annotations

import logging
import re
from typing import Any, NamedTuple

import orjson

from jarvis.chat.outcomes import record_chat_error
from jarvis.metrics import Metrics
from jarvis.rate_limit.guard import RateLimitGuard
from jarvis.settings import Settings

# User IDs appear in logs, Elasticsearch and rate-limit keys: a plain charset keeps them safe.
_USER_ID = re.compile(r"[A-Za-z0-9._@:+\-]+")


# NamedTuples, not frozen dataclasses: one of each is made for every chat, and a frozen
# dataclass's __init__ (object.__setattr__ per field) costs several times as much.
class ChatInput(NamedTuple):
    message: str
    user_id: str


class Sender(NamedTuple):
    """Where a chat comes from, as far as the intake and the chat service care."""

    transport: str  # "http" or "ws": the log field
    endpoint: str  # "/chat" or "/ws": the rate-limit bucket and metric label
    # The client's address (behind trusted proxies, the one they saw); it pays for every chat.
    address: str
    secure: bool  # over TLS

    @property
    def secure_label(self) -> str:
        """The ``secure`` label of ``chat_requests_total``."""
        return "true" if self.secure else "false"


class ChatInputError(Exception):
    """Bad input from the client. ``stage`` is the ``chat_errors_total`` label."""

    def __init__(self, stage: str, detail: str, user_id: str | None = None) -> None:
        super().__init__(detail)
        self.stage = stage
        self.detail = detail
        self.user_id = user_id


class RateLimited(Exception):
    """The client is over its limit; it may try again in ``retry_after_seconds``."""

    def __init__(self, retry_after_seconds: int) -> None:
        super().__init__(f"rate limited, retry after {retry_after_seconds} s")
        self.retry_after_seconds = retry_after_seconds


class ChatIntake:
    """Admits chats and chat sessions, refusing bad input and clients over their limit."""

    def __init__(self, settings: Settings, rate_limit: RateLimitGuard, metrics: Metrics) -> None:
        self._max_body_bytes = settings.max_body_bytes
        self._max_message_chars = settings.max_message_chars
        self._max_user_id_chars = settings.max_user_id_chars
        self._rate_limit = rate_limit
        self._metrics = metrics

    async def admit(self, raw: bytes | str, sender: Sender) -> ChatInput:
        """The chat a raw body or frame holds.

        Every body or frame, even garbage, costs a token from the sender's address, and one
        from the user it names, if any (``RateLimitGuard``); raises ``RateLimited`` when either
        is out of tokens. Raises ``ChatInputError`` (stage ``parse`` or ``validation``), counted
        in ``chat_errors_total`` and ``chat_requests_total{status="error"}``, when the input is
        bad.
        """
        try:
            payload = decode_json(raw)
        except ChatInputError as error:
            await self._take_token(sender, None)
            self._count_refusal(error, sender)
            raise
        claimed = claimed_user_id(payload, self._max_user_id_chars)
        await self._take_token(sender, claimed)
        try:
            return validate_chat_payload(
                payload, self._max_message_chars, self._max_user_id_chars, checked_user_id=claimed
            )
        except ChatInputError as error:
            self._count_refusal(error, sender)
            raise

    async def admit_session(self, sender: Sender) -> None:
        """Admit a connection that will carry chats (a WebSocket upgrade): its address pays a
        token, as for a chat naming no user; raises ``RateLimited``."""
        await self._take_token(sender, None)

    def refuse_oversized(self, sender: Sender) -> ChatInputError:
        """Count and log a body or frame over ``max_body_bytes`` (the transport has cut it
        off), exactly as ``admit`` counts a refusal; return the error to report."""
        detail = f"body is larger than {self._max_body_bytes} bytes"
        error = ChatInputError("body_too_large", detail)
        self._count_refusal(error, sender)
        return error

    async def _take_token(self, sender: Sender, user_id: str | None) -> None:
        decision = await self._rate_limit.check(sender.endpoint, sender.address, user_id)
        if not decision.allowed:
            raise RateLimited(decision.retry_after_seconds)

    def _count_refusal(self, error: ChatInputError, sender: Sender) -> None:
        record_chat_error(
            self._metrics,
            secure_label=sender.secure_label,
            transport=sender.transport,
            stage=error.stage,
            detail=error.detail,
            user_id=error.user_id,
            level=logging.WARNING,
        )


def decode_json(raw: bytes | str) -> Any:
    """The JSON value of a body or frame; raises ``ChatInputError`` (stage ``parse``) for
    anything else. orjson refuses nesting past 1,024 levels with the same error (setup.cfg
    requires a version that does), so however deep a body, it is a 400, never a crash."""
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise ChatInputError("parse", f"body is not valid JSON: {exc.msg}") from None


def claimed_user_id(payload: Any, max_user_id_chars: int) -> str | None:
    """The payload's ``user_id`` if it is a well-formed one, else None (then only the client's
    address pays for the chat)."""
    if isinstance(payload, dict):
        user_id = payload.get("user_id")
        if isinstance(user_id, str) and _is_well_formed_user_id(user_id, max_user_id_chars):
            return user_id
    return None


def validate_chat_payload(
    payload: Any,
    max_message_chars: int,
    max_user_id_chars: int,
    checked_user_id: str | None = None,
) -> ChatInput:
    """Check a decoded payload has a non-empty ``message`` and a well-formed ``user_id``;
    ``checked_user_id`` is what ``claimed_user_id`` found in it, not checked again."""
    if not isinstance(payload, dict):
        raise ChatInputError("validation", "body must be a JSON object")
    user_id = payload.get("user_id")
    message = payload.get("message")
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
    elif user_id is not checked_user_id and not _is_well_formed_user_id(user_id, max_user_id_chars):
        problems.append(
            f"'user_id' must be 1-{max_user_id_chars} characters of letters, digits and ._@:+-"
        )
    if problems:
        known_user = claimed_user_id(payload, max_user_id_chars)
        raise ChatInputError("validation", "; ".join(problems), user_id=known_user)
    assert isinstance(message, str) and isinstance(user_id, str)
    return ChatInput(message=message, user_id=user_id)


def _is_well_formed_user_id(user_id: str, max_chars: int) -> bool:
    return 0 < len(user_id) <= max_chars and _USER_ID.fullmatch(user_id) is not None
