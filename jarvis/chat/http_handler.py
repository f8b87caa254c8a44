"""``POST /chat``: one message in, the whole answer out, as JSON."""

from __future__ import annotations

import logging

from aiohttp import web

from jarvis.app_keys import CHAT_SERVICE, RATE_LIMIT, SETTINGS
from jarvis.chat.service import ChatTurnError
from jarvis.chat.validation import (
    ChatInputError,
    claimed_user_id,
    decode_json,
    validate_chat_payload,
)
from jarvis.middlewares.errors import error_body
from jarvis.request_context import REQUEST_ID_KEY

logger = logging.getLogger("jarvis.chat")


async def chat(request: web.Request) -> web.Response:
    app = request.app
    settings = app[SETTINGS]

    def refuse(error: ChatInputError, status: int) -> web.Response:
        app[CHAT_SERVICE].refuse_input(error, "http", request.secure)
        return error_body(request, status, error.detail, stage=error.stage)

    try:
        raw = await request.read()
    except web.HTTPRequestEntityTooLarge:
        too_large = ChatInputError(
            "body_too_large", f"body is larger than {settings.max_body_bytes} bytes"
        )
        return refuse(too_large, 413)

    try:
        payload = decode_json(raw)
    except ChatInputError as exc:
        app[RATE_LIMIT].enforce("/chat", request, None)
        return refuse(exc, 400)

    app[RATE_LIMIT].enforce("/chat", request, claimed_user_id(payload))
    try:
        chat_input = validate_chat_payload(
            payload, settings.max_message_chars, settings.max_user_id_chars
        )
    except ChatInputError as exc:
        return refuse(exc, 422)

    try:
        answer = await app[CHAT_SERVICE].reply(chat_input, "http", request.secure)
    except ChatTurnError as exc:
        return error_body(request, exc.status, exc.detail, stage=exc.stage)
    return web.json_response({"response": answer, "request_id": request[REQUEST_ID_KEY]})
