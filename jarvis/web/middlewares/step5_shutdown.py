"""Step 5: a request that a shutdown cuts off still gets an answer, an access line and an
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

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from jarvis.chat.intake import Sender
from jarvis.chat.outcomes import record_chat_error
from jarvis.metrics import Metrics
from jarvis.web.keys import STARTED_RESPONSE
from jarvis.web.middlewares.step2_client_address import client_address_of
from jarvis.web.responses import error_body, route_of

SHUTDOWN_STAGE = "shutdown"
SHUTTING_DOWN = "server shutting down"


class InFlightRequests:
    """The requests being handled, and the end of the grace period a shutdown gives them."""

    def __init__(self, grace_seconds: float, metrics: Metrics) -> None:
        self._grace_seconds = grace_seconds
        self._metrics = metrics
        self._running: set[asyncio.Task[object]] = set()
        self._cut_off: set[asyncio.Task[object]] = set()

    def middleware(self) -> Middleware:
        """Build the middleware that tracks each request and answers it when cut off."""

        @web.middleware
        async def answer_when_cut_off(request: web.Request, handler: Handler) -> web.StreamResponse:
            task = asyncio.current_task()
            assert task is not None
            self._running.add(task)
            try:
                return await handler(request)
            except asyncio.CancelledError:
                # Only our own cancellation is answered: any other goes on.
                if task not in self._cut_off or task.uncancel() > 0:
                    raise
                return self._answer(request)
            finally:
                self._running.discard(task)
                self._cut_off.discard(task)

        return answer_when_cut_off

    async def on_shutdown(self, app: web.Application) -> None:
        """Start the grace period (an ``on_shutdown`` hook: the server stops accepting)."""
        asyncio.get_running_loop().call_later(self._grace_seconds, self._end_grace_period)

    def _end_grace_period(self) -> None:
        for task in self._running - self._cut_off:
            self._cut_off.add(task)
            task.cancel(SHUTTING_DOWN)

    def _answer(self, request: web.Request) -> web.StreamResponse:
        started = request.get(STARTED_RESPONSE)
        if started is not None:
            return started
        if request.method == "POST" and route_of(request) == "/chat":
            sender = Sender("http", "/chat", client_address_of(request), request.secure)
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


async def remember_started_response(request: web.Request, response: web.StreamResponse) -> None:
    """An ``on_response_prepare`` hook: the response whose headers are going out."""
    request[STARTED_RESPONSE] = response
