"""``POST /chat``: one message in, the whole answer out, as JSON.

The handler only translates HTTP: the body goes to the intake, refusals become 4xx JSON errors.
"""

from __future__ import annotations

from aiohttp import web

from jarvis.chat.intake import ChatInputError, RateLimited, Sender
from jarvis.chat.service import ChatTurnError
from jarvis.request_context import get_request_id
from jarvis.web.keys import CHAT_INTAKE, CHAT_SERVICE
from jarvis.web.middlewares.step2_client_address import client_address_of
from jarvis.web.responses import error_body, json_response, too_many_requests

_STATUS_OF_STAGE = {"body_too_large": 413, "parse": 400, "validation": 422}


async def chat(request: web.Request) -> web.Response:
    app = request.app  # a property two calls deep: read once
    intake = app[CHAT_INTAKE]
    sender = Sender("http", "/chat", client_address_of(request), request.secure)
    try:
        raw = await request.read()
    except web.HTTPRequestEntityTooLarge:
        return _refused(request, intake.refuse_oversized(sender))
    try:
        chat_input = await intake.admit(raw, sender)
    except ChatInputError as error:
        return _refused(request, error)
    except RateLimited as limited:
        raise too_many_requests(limited.retry_after_seconds) from None

    try:
        answer = await app[CHAT_SERVICE].reply(chat_input, sender)
    except ChatTurnError as exc:
        return error_body(request, exc.status, exc.detail, stage=exc.stage)
    return json_response({"response": answer, "request_id": get_request_id()})


def _refused(request: web.Request, error: ChatInputError) -> web.Response:
    return error_body(request, _STATUS_OF_STAGE[error.stage], error.detail, stage=error.stage)
