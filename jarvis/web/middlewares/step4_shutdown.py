"""Step 4: a request that a shutdown cuts off still gets an answer, an access line and an
outcome line.

On SIGTERM the server stops accepting and gives the requests in flight ``SHUTDOWN_TIMEOUT``
to finish. Left to itself, aiohttp then cancels the handlers still running and closes their
connections: no response, no access line, no outcome, as if those requests never happened.
So when the grace period ends, this step cancels them itself and answers each with a 503
``server shutting down`` (stage ``shutdown``), which aiohttp sends and access-logs like any
response before it closes the connection; a chat among them also gets its ``chat_error``
line, stage ``shutdown``, counted in ``chat_errors_total``. A response already started (a
WebSocket session, whose close frame went out when the shutdown began) cannot be answered
again: it is handed back to aiohttp as it is, and access-logged with the status it was sent.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from aiohttp import web

from jarvis.chat.intake import Sender
from jarvis.chat.outcomes import record_chat_error
from jarvis.metrics import Metrics
from jarvis.request_context import RequestFacts
from jarvis.web.responses import error_body

SHUTDOWN_STAGE = "shutdown"
SHUTTING_DOWN = "server shutting down"


class InFlightRequests:
    """The requests being handled, and the end of the grace period a shutdown gives them."""

    def __init__(self, grace_seconds: float, metrics: Metrics) -> None:
        self._grace_seconds = grace_seconds
        self._metrics = metrics
        # The tasks handling a request, which the middleware adds and removes itself (a
        # method call each would cost more than the set operation); those cut off are
        # removed from both when done.
        self.running: set[asyncio.Task[Any]] = set()
        self.cut_off: set[asyncio.Task[Any]] = set()
        # The server's loop, once started: the middleware asks it for the task at hand, as
        # ``asyncio.current_task()`` asks the OS for the process ID to find the running loop
        # (a system call a request, on Python 3.11).
        self.loop: asyncio.AbstractEventLoop | None = None

    async def on_startup(self, app: web.Application) -> None:
        """Note the server's loop (an ``on_startup`` hook)."""
        self.loop = asyncio.get_running_loop()

    def was_cut_off(self, task: asyncio.Task[Any]) -> bool:
        """Whether the cancellation ``task`` just caught was ours (the grace period ended)
        alone: any other must go on."""
        return task in self.cut_off and task.uncancel() == 0

    async def on_shutdown(self, app: web.Application) -> None:
        """Start the grace period (an ``on_shutdown`` hook: the server stops accepting)."""
        asyncio.get_running_loop().call_later(self._grace_seconds, self._end_grace_period)

    def _end_grace_period(self) -> None:
        for task in self.running - self.cut_off:
            self.cut_off.add(task)
            task.cancel(SHUTTING_DOWN)

    def answer(self, request: web.Request, facts: RequestFacts) -> web.StreamResponse:
        """The answer of a request cut off by the end of the grace period."""
        if facts.started is not None:
            return facts.started
        if request.method == "POST" and facts.route == "/chat":
            sender = Sender("http", "/chat", facts.client, request.secure)
            record_chat_error(
                self._metrics,
                secure_label=sender.secure_label,
                transport=sender.transport,
                stage=SHUTDOWN_STAGE,
                detail=f"{SHUTTING_DOWN}: the answer was cut off",
                user_id=None,
                level=logging.ERROR,
            )
        return error_body(request, 503, SHUTTING_DOWN, stage=SHUTDOWN_STAGE)
