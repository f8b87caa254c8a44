"""How a chat that did not get an answer is counted and logged, whoever refused it: the intake
(bad input, stage ``parse``/``validation``/``body_too_large``) or the service (stage
``memory``/``llm``). One place, so both transports and both causes read the same on the
dashboard and in Elasticsearch."""

from __future__ import annotations

import logging

from jarvis.logline import ACTION, ERROR, STAGE, TRANSPORT, USER_ID, Action
from jarvis.logs.handler import DirectLogger
from jarvis.metrics import Metrics

# Every chat writes lines of its own: they skip the record machinery when they can.
logger = DirectLogger("jarvis.chat")


def record_chat_error(
    metrics: Metrics,
    *,
    secure_label: str,
    transport: str,
    stage: str,
    detail: str,
    user_id: str | None,
    level: int,
) -> None:
    """Count the chat in ``chat_errors_total{stage}`` and ``chat_requests_total{status="error"}``
    and write its ``chat_error`` line (the client's fault at WARNING, ours at ERROR)."""
    metrics.chat_errors_total.inc({"stage": stage})
    metrics.chat_requests_total.inc({"secure": secure_label, "status": "error"})
    logger.log(
        level,
        "chat input refused" if level < logging.ERROR else "chat error",
        {
            ACTION: Action.CHAT_ERROR,
            STAGE: stage,
            ERROR: detail,
            USER_ID: user_id,
            TRANSPORT: transport,
        },
    )
