"""Every typed key the server uses: what the application carries (``AppKey``, set up by
``jarvis.app.create_app``) and what a request carries (``RequestKey``, set by the middlewares)."""

from __future__ import annotations

from aiohttp import web

from jarvis.chat.intake import ChatIntake
from jarvis.chat.service import ChatService
from jarvis.health import HealthMonitor
from jarvis.logs.writer import LogWriter
from jarvis.metrics import Metrics
from jarvis.settings import Settings
from jarvis.web.request_facts import RequestFacts

# The application's.
SETTINGS = web.AppKey("settings", Settings)
METRICS = web.AppKey("metrics", Metrics)
CHAT_INTAKE = web.AppKey("chat_intake", ChatIntake)
CHAT_SERVICE = web.AppKey("chat_service", ChatService)
HEALTH = web.AppKey("health", HealthMonitor)
# Only when the app was given one (``jarvis serve`` always is).
LOG_WRITER = web.AppKey("log_writer", LogWriter)
OPEN_SOCKETS: web.AppKey[set[web.WebSocketResponse]] = web.AppKey("open_sockets")

# A request's, set by the middleware: everything it learnt in one object, so that it sets
# one key and each reader looks up one (``request.get`` is three Python calls).
REQUEST_FACTS_KEY = web.RequestKey("request_facts", RequestFacts)


def request_id_of(request: web.BaseRequest) -> str | None:
    """The request's ID; None for one aiohttp answered before the middleware ran."""
    facts = request.get(REQUEST_FACTS_KEY)
    return facts.request_id if facts is not None else None
