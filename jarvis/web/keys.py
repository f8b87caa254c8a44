"""Every typed key the server uses: what the application carries (``AppKey``, set up by
``jarvis.app.create_app``) and what a request carries (``RequestKey``, set by the middlewares)."""

from __future__ import annotations

from aiohttp import web

from jarvis.chat.intake import ChatIntake
from jarvis.chat.service import ChatService
from jarvis.health import HealthMonitor
from jarvis.logs.writer import LogWriter
from jarvis.metrics import Metrics
from jarvis.request_context import TraceContext
from jarvis.settings import Settings

# The application's.
SETTINGS = web.AppKey("settings", Settings)
METRICS = web.AppKey("metrics", Metrics)
CHAT_INTAKE = web.AppKey("chat_intake", ChatIntake)
CHAT_SERVICE = web.AppKey("chat_service", ChatService)
HEALTH = web.AppKey("health", HealthMonitor)
# Only when the app was given one (``jarvis serve`` always is).
LOG_WRITER = web.AppKey("log_writer", LogWriter)
OPEN_SOCKETS: web.AppKey[set[web.WebSocketResponse]] = web.AppKey("open_sockets")

# A request's, in the order the middlewares set them.
REQUEST_ID_KEY = web.RequestKey("request_id", str)
# None when the request came without a (valid) W3C trace.
TRACE_KEY: web.RequestKey[TraceContext | None] = web.RequestKey("trace")
CLIENT_ADDRESS_KEY = web.RequestKey("client_address", str)
# Set when the response's headers go out (an on_response_prepare hook).
STARTED_RESPONSE = web.RequestKey("started_response", web.StreamResponse)
