"""One chat turn: recall the user's conversation, ask the LLM, remember the answer.

Shared by the HTTP and WebSocket handlers, so both count, time and log a turn the same way.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from jarvis.chat.validation import ChatInput, ChatInputError
from jarvis.llm.base import LLMClient, LLMError
from jarvis.memory import ConversationMemory, MemoryStoreError
from jarvis.metrics import Metrics

logger = logging.getLogger("jarvis.chat")

TokenSink = Callable[[str], Awaitable[None]]


class ChatTurnError(Exception):
    """A turn that failed on our side or a dependency's; ``stage`` is the metric label."""

    def __init__(self, stage: str, detail: str, status: int) -> None:
        super().__init__(detail)
        self.stage = stage
        self.detail = detail
        self.status = status


class ChatService:
    def __init__(
        self,
        llm: LLMClient,
        memory: ConversationMemory,
        metrics: Metrics,
        log_content: bool = False,
    ) -> None:
        self._llm = llm
        self._memory = memory
        self._metrics = metrics
        self._log_content = log_content

    async def reply(
        self,
        chat: ChatInput,
        transport: str,
        secure: bool = False,
        on_token: TokenSink | None = None,
    ) -> str:
        """The assistant's answer to ``chat``; each token also goes to ``on_token`` as it comes.

        Counts the turn in ``chat_requests_total``. Raises ``ChatTurnError`` (already counted
        in ``chat_errors_total``) on failure.
        """
        turn = _Turn(chat, transport, "true" if secure else "false")
        content = {"message_text": chat.message} if self._log_content else {}
        logger.info(
            "chat request",
            extra={
                "action": "chat_request",
                "user_id": chat.user_id,
                "message_length": len(chat.message),
                "transport": transport,
                **content,
            },
        )
        try:
            history = await self._memory.history(chat.user_id)
        except MemoryStoreError as exc:
            raise self._failed(turn, "memory", f"memory unavailable: {exc}", 503) from exc

        messages = [*history, {"role": "user", "content": chat.message}]
        started = time.perf_counter()
        tokens: list[str] = []
        try:
            # aclosing: a turn cut short (client gone, shutdown) releases the LLM connection now.
            async with contextlib.aclosing(self._llm.stream_chat(messages)) as stream:
                async for token in stream:
                    tokens.append(token)
                    if on_token is not None:
                        await on_token(token)
        except LLMError as exc:
            status = 504 if exc.reason == "timeout" else 502
            raise self._failed(turn, "llm", f"language model failed: {exc}", status) from exc
        finally:
            llm_seconds = time.perf_counter() - started
            self._metrics.llm_generate_seconds.observe({}, llm_seconds)
        answer = "".join(tokens)

        try:
            await self._memory.save_turn(chat.user_id, chat.message, answer)
        except MemoryStoreError as exc:
            raise self._failed(turn, "memory", f"could not save: {exc}", 503) from exc

        logger.info(
            "chat success",
            extra={
                "action": "chat_success",
                "user_id": chat.user_id,
                "response_length": len(answer),
                "llm_seconds": round(llm_seconds, 6),
                "transport": transport,
            },
        )
        self._metrics.chat_requests_total.inc({"secure": turn.secure, "status": "success"})
        return answer

    def refuse_input(self, error: ChatInputError, transport: str, secure: bool) -> None:
        """Count and log a chat refused for bad input (the caller answers the client)."""
        self._metrics.chat_errors_total.inc({"stage": error.stage})
        self._metrics.chat_requests_total.inc(
            {"secure": "true" if secure else "false", "status": "error"}
        )
        logger.warning(
            "chat input refused",
            extra={
                "action": "chat_error",
                "stage": error.stage,
                "error": error.detail,
                "user_id": error.user_id,
                "transport": transport,
            },
        )

    def _failed(self, turn: _Turn, stage: str, detail: str, status: int) -> ChatTurnError:
        self._metrics.chat_errors_total.inc({"stage": stage})
        self._metrics.chat_requests_total.inc({"secure": turn.secure, "status": "error"})
        logger.error(
            "chat error",
            extra={
                "action": "chat_error",
                "user_id": turn.chat.user_id,
                "stage": stage,
                "error": detail,
                "transport": turn.transport,
            },
        )
        return ChatTurnError(stage, detail, status)


@dataclass(frozen=True)
class _Turn:
    chat: ChatInput
    transport: str
    secure: str
