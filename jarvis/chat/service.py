"""One chat turn: recall the user's conversation, ask the LLM, remember the answer.

Shared by the HTTP and WebSocket handlers, so both count, time and log a turn the same way.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Awaitable, Callable

from jarvis.chat.intake import ChatInput, Sender
from jarvis.chat.outcomes import record_chat_error
from jarvis.llm.base import LLMClient, LLMError
from jarvis.logline import ACTION, LLM_SECONDS, TRANSPORT, USER_ID, Action
from jarvis.logs.handler import DirectLogger
from jarvis.memory import ConversationMemory, MemoryStoreError
from jarvis.metrics import CounterSeries, Metrics

# Two lines a turn: they skip the record machinery when they can.
logger = DirectLogger("jarvis.chat")

TokenSink = Callable[[str], Awaitable[None]]


class ChatTurnError(Exception):
    """A turn that failed on our side or a dependency's; ``stage`` is the metric label."""

    def __init__(self, stage: str, detail: str, status: int) -> None:
        super().__init__(detail)
        self.stage = stage
        self.detail = detail
        self.status = status


class ChatService:
    """Answers chats that the intake admitted, with the user's conversation as context."""

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
        # Bound once: every turn records through them (see jarvis.metrics).
        self._llm_seconds = metrics.llm_generate_seconds.series({})
        self._succeeded = {
            secure: CounterSeries(
                metrics.chat_requests_total, {"secure": label, "status": "success"}
            )
            for secure, label in ((True, "true"), (False, "false"))
        }

    async def reply(
        self, chat: ChatInput, sender: Sender, on_token: TokenSink | None = None
    ) -> str:
        """The assistant's answer to ``chat``; each token also goes to ``on_token`` as it comes.

        Counts the turn in ``chat_requests_total``. Raises ``ChatTurnError`` (already counted
        in ``chat_errors_total``) on failure.
        """
        content = {"message_text": chat.message} if self._log_content else {}
        logger.info(
            "chat request",
            {
                ACTION: Action.CHAT_REQUEST,
                USER_ID: chat.user_id,
                "message_length": len(chat.message),
                TRANSPORT: sender.transport,
                **content,
            },
        )
        try:
            history = await self._memory.history(chat.user_id)
        except MemoryStoreError as exc:
            raise self._failed(chat, sender, "memory", f"memory unavailable: {exc}", 503) from exc

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
            raise self._failed(
                chat, sender, "llm", f"language model failed: {exc}", status
            ) from exc
        finally:
            llm_seconds = time.perf_counter() - started
            self._llm_seconds.observe(llm_seconds)
        answer = "".join(tokens)

        try:
            await self._memory.save_turn(chat.user_id, chat.message, answer)
        except MemoryStoreError as exc:
            raise self._failed(chat, sender, "memory", f"could not save: {exc}", 503) from exc

        logger.info(
            "chat success",
            {
                ACTION: Action.CHAT_SUCCESS,
                USER_ID: chat.user_id,
                "response_length": len(answer),
                LLM_SECONDS: round(llm_seconds, 6),
                TRANSPORT: sender.transport,
            },
        )
        self._succeeded[sender.secure].inc()
        return answer

    def _failed(
        self, chat: ChatInput, sender: Sender, stage: str, detail: str, status: int
    ) -> ChatTurnError:
        record_chat_error(
            self._metrics,
            secure_label=sender.secure_label,
            transport=sender.transport,
            stage=stage,
            detail=detail,
            user_id=chat.user_id,
            level=logging.ERROR,
        )
        return ChatTurnError(stage, detail, status)
