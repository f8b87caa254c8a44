"""Typed keys for what the application object carries (set up by ``jarvis.app.create_app``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

from jarvis.metrics import Metrics
from jarvis.rate_limit_guard import RateLimitGuard
from jarvis.settings import Settings

if TYPE_CHECKING:
    from jarvis.chat.service import ChatService
    from jarvis.health import HealthMonitor

SETTINGS = web.AppKey("settings", Settings)
METRICS = web.AppKey("metrics", Metrics)
RATE_LIMIT = web.AppKey("rate_limit", RateLimitGuard)
CHAT_SERVICE: web.AppKey[ChatService] = web.AppKey("chat_service")
HEALTH: web.AppKey[HealthMonitor] = web.AppKey("health")
OPEN_SOCKETS: web.AppKey[set[web.WebSocketResponse]] = web.AppKey("open_sockets")
