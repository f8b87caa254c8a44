"""Every typed key the application carries (``AppKey``, set up by ``jarvis.app.create_app``).
What the server learns of a request is its context's (``jarvis.request_context``)."""

from __future__ import annotations

from aiohttp import web

from jarvis.chat.intake import ChatIntake
from jarvis.chat.service import ChatService
from jarvis.health import HealthMonitor
from jarvis.logs.writer import LogWriter
from jarvis.metrics import Metrics
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
