"""``GET /ws``: a chat session over a native WebSocket.

Frames in: ``{"message": ..., "user_id": ...}``. Frames out: ``{"type": "token", ...}`` as the
answer streams, then ``{"type": "done", ...}``; a bad frame gets ``{"type": "error", ...}`` and
the session goes on. The whole session runs in the upgrade request's task, so it keeps that
request's ID: every log line and error frame of the socket carries it.

The handler only translates the WebSocket: each text frame goes to the intake, as an HTTP body
does, and refusals become error frames.
"""

from __future__ import annotations

import time
from typing import Any

import orjson
from aiohttp import WSCloseCode, WSMsgType, web

from jarvis.chat.intake import ChatInputError, RateLimited, Sender
from jarvis.chat.service import ChatTurnError
from jarvis.logline import ACTION, DURATION_MS, ERROR, STAGE, Action
from jarvis.logs.handler import DirectLogger
from jarvis.metrics import CounterSeries
from jarvis.request_context import get_request_id
from jarvis.web.keys import (
    CHAT_INTAKE,
    CHAT_SERVICE,
    METRICS,
    OPEN_SOCKETS,
    SETTINGS,
)
from jarvis.web.middlewares import prepare_response
from jarvis.web.middlewares.step2_client_address import client_address_of
from jarvis.web.responses import too_many_requests

logger = DirectLogger("jarvis.ws")


async def websocket_chat(request: web.Request) -> web.StreamResponse:
    app = request.app
    metrics = app[METRICS]
    sender = Sender("ws", "/ws", client_address_of(request), request.secure)
    try:
        await app[CHAT_INTAKE].admit_session(sender)
    except RateLimited as limited:
        raise too_many_requests(limited.retry_after_seconds) from None

    ws = web.WebSocketResponse(heartbeat=30.0, max_msg_size=app[SETTINGS].max_body_bytes)
    if not ws.can_prepare(request).ok:
        metrics.ws_connections_total.inc({"status": "rejected"})
        raise web.HTTPBadRequest(reason="expected a WebSocket upgrade request")
    # With the X-Request-ID header in the handshake.
    await prepare_response(request, ws)

    session = _Session(request, ws, sender)
    metrics.ws_connections_total.inc({"status": "accepted"})
    metrics.ws_active_connections.inc({})
    app[OPEN_SOCKETS].add(ws)
    logger.info("websocket connected", {ACTION: Action.WS_CONNECT, "client": sender.address})
    try:
        async for frame in ws:
            if frame.type is WSMsgType.TEXT:
                await session.handle_text(frame.data)
            elif frame.type is WSMsgType.BINARY:
                await session.send_error("frames must be JSON text, not binary", stage="parse")
            elif frame.type is WSMsgType.ERROR:
                metrics.ws_connections_total.inc({"status": "error"})
                # A frame over the size limit is the WebSocket's oversized body: aiohttp has
                # closed with 1009, and the intake counts it as it counts an HTTP 413.
                too_big = getattr(frame.data, "code", None) == WSCloseCode.MESSAGE_TOO_BIG
                if too_big:
                    app[CHAT_INTAKE].refuse_oversized(sender)
                logger.warning(
                    "websocket error",
                    {
                        ACTION: Action.WS_ERROR,
                        STAGE: "body_too_large" if too_big else "transport",
                        ERROR: str(frame.data),
                    },
                )
    finally:
        # However the socket ends (client close, error, cancellation at shutdown), the gauge
        # comes back down.
        metrics.ws_active_connections.dec({})
        metrics.ws_connections_total.inc({"status": "closed"})
        app[OPEN_SOCKETS].discard(ws)
        logger.info(
            "websocket closed",
            {
                ACTION: Action.WS_CLOSE,
                "close_code": ws.close_code,
                "messages_in": session.messages_in,
                "messages_out": session.messages_out,
                DURATION_MS: round((time.perf_counter() - session.started) * 1000, 3),
            },
        )
    return ws


class _Session:
    def __init__(self, request: web.Request, ws: web.WebSocketResponse, sender: Sender) -> None:
        self.ws = ws
        self.sender = sender
        self.app = request.app
        self.metrics = self.app[METRICS]
        # Looked up once: the session runs after start-up, when both are in place.
        self._intake = self.app[CHAT_INTAKE]
        self._service = self.app[CHAT_SERVICE]
        self.request_id = get_request_id()
        self.started = time.perf_counter()
        self.messages_in = 0
        self.messages_out = 0
        # Bound once: every token of every answer is counted, and a label dict per frame
        # cost as much as sending it.
        messages = self.metrics.ws_messages_total
        self._received_ok = CounterSeries(messages, {"direction": "in", "status": "ok"})
        self._received_bad = CounterSeries(messages, {"direction": "in", "status": "error"})
        self._sent_ok = CounterSeries(messages, {"direction": "out", "status": "ok"})
        self._send_failed = CounterSeries(messages, {"direction": "out", "status": "error"})
        self._turn_seconds = self.metrics.ws_message_seconds.series({})

    async def handle_text(self, data: str) -> None:
        self.messages_in += 1
        started = time.perf_counter()
        logger.debug("websocket message", {ACTION: Action.WS_MESSAGE, "direction": "in"})
        try:
            chat_input = await self._intake.admit(data, self.sender)
        except ChatInputError as error:
            self._received_bad.inc()
            await self.send_error(error.detail, stage=error.stage)
            return
        except RateLimited as limited:
            self._received_bad.inc()
            await self.send(
                {
                    "type": "error",
                    "error": "rate limit exceeded",
                    "retry_after": limited.retry_after_seconds,
                    "request_id": self.request_id,
                }
            )
            return

        self._received_ok.inc()
        try:
            answer = await self._service.reply(chat_input, self.sender, self.send_token)
        except ChatTurnError as exc:
            await self.send_error(exc.detail, stage=exc.stage)
            return
        await self.send({"type": "done", "response": answer, "request_id": self.request_id})
        self._turn_seconds.observe(time.perf_counter() - started)

    async def send_token(self, token: str) -> None:
        """One token of the answer, as its own frame: ``send`` inlined, as it runs for every
        token of every answer."""
        ws = self.ws
        if ws.closed:
            return
        try:
            await ws.send_frame(orjson.dumps({"type": "token", "content": token}), WSMsgType.TEXT)
        except ConnectionError:
            self._send_failed.inc()
            return
        self.messages_out += 1
        self._sent_ok.inc()

    async def send_error(self, error: str, stage: str) -> None:
        await self.send(
            {"type": "error", "error": error, "stage": stage, "request_id": self.request_id}
        )

    async def send(self, frame: dict[str, Any]) -> None:
        if self.ws.closed:
            return
        try:
            # orjson's bytes go out as the text frame they are (UTF-8 JSON), not re-encoded.
            await self.ws.send_frame(orjson.dumps(frame), WSMsgType.TEXT)
        except ConnectionError:
            self._send_failed.inc()
            return
        self.messages_out += 1
        self._sent_ok.inc()
