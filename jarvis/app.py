"""The application factory: one place where the server's parts are put together."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable

from aiohttp import WSCloseCode, web

from jarvis.app_keys import CHAT_SERVICE, HEALTH, METRICS, OPEN_SOCKETS, RATE_LIMIT, SETTINGS
from jarvis.chat.http_handler import chat
from jarvis.chat.service import ChatService
from jarvis.chat.ws_handler import websocket_chat
from jarvis.health import Dependency, HealthMonitor, health
from jarvis.llm.base import LLMClient, create_llm_client
from jarvis.logs.writer import LogWriter
from jarvis.memory import ConversationMemory
from jarvis.metrics import Metrics
from jarvis.metrics_endpoint import metrics as metrics_handler
from jarvis.middlewares.client_address import client_address_middleware
from jarvis.middlewares.errors import json_errors
from jarvis.middlewares.metrics import metrics_middleware
from jarvis.middlewares.request_id import request_id_middleware, request_id_response_hook
from jarvis.rate_limit_guard import RateLimitGuard
from jarvis.rate_limiter import TokenBucketLimiter
from jarvis.settings import Settings

logger = logging.getLogger("jarvis.app")


def create_app(
    settings: Settings,
    *,
    metrics: Metrics | None = None,
    log_writer: LogWriter | None = None,
    llm: LLMClient | None = None,
) -> web.Application:
    """Build the server. Dependencies (LLM client, memory, health probes) open on start-up and
    close on cleanup; ``llm`` replaces the client the settings would choose."""
    metrics = metrics or Metrics.create()
    app = web.Application(
        middlewares=[
            request_id_middleware(settings.request_id_header),
            client_address_middleware(settings.trusted_proxy_hops),
            metrics_middleware(metrics),
            json_errors,
        ],
        client_max_size=settings.max_body_bytes,
    )
    app[SETTINGS] = settings
    app[METRICS] = metrics
    limiter = (
        TokenBucketLimiter(
            settings.rate_limit_per_minute,
            settings.rate_limit_burst,
            settings.rate_limit_max_clients,
        )
        if settings.rate_limit_enabled
        else None
    )
    app[RATE_LIMIT] = RateLimitGuard(limiter, metrics)
    app[OPEN_SOCKETS] = set()
    app.on_response_prepare.append(request_id_response_hook(settings.request_id_header))
    app.cleanup_ctx.append(_dependencies(settings, metrics, log_writer, llm))
    app.on_shutdown.append(_close_websockets)

    app.router.add_post("/chat", chat)
    app.router.add_get("/ws", websocket_chat)
    app.router.add_get("/health", health)
    if settings.prometheus_metrics:
        app.router.add_get("/metrics", metrics_handler)
    return app


def _dependencies(
    settings: Settings,
    metrics: Metrics,
    log_writer: LogWriter | None,
    llm: LLMClient | None,
) -> Callable[[web.Application], AsyncIterator[None]]:
    async def open_and_close(app: web.Application) -> AsyncIterator[None]:
        client = llm or create_llm_client(settings)
        memory = await ConversationMemory.open(
            settings.memory_path, settings.memory_max_turns, metrics
        )
        app[CHAT_SERVICE] = ChatService(client, memory, metrics, settings.log_chat_content)
        dependencies = [
            Dependency(client.name, client.probe, critical=True),
            Dependency("memory", memory.ping, critical=True),
        ]
        if log_writer is not None:
            dependencies.append(Dependency("log_sink", _LogSinkProbe(log_writer), critical=False))
        monitor = HealthMonitor(
            dependencies, metrics, settings.health_interval, settings.health_timeout
        )
        app[HEALTH] = monitor
        await monitor.start()
        logger.info(
            "jarvis ready",
            extra={"action": "startup", "llm": client.name, "metrics": settings.prometheus_metrics},
        )
        try:
            yield
        finally:
            await monitor.stop()
            await client.close()
            await memory.close()
            logger.info("jarvis stopped", extra={"action": "shutdown"})

    return open_and_close


class _LogSinkProbe:
    """Healthy while the writer thread runs, its last write succeeded and no line was dropped
    since the previous probe."""

    def __init__(self, writer: LogWriter) -> None:
        self._writer = writer
        self._dropped_seen = writer.lines_dropped

    async def __call__(self) -> None:
        writer = self._writer
        if not writer.alive:
            raise RuntimeError("log writer thread is not running")
        if writer.last_error:
            raise RuntimeError(writer.last_error)
        dropped, self._dropped_seen = (
            writer.lines_dropped - self._dropped_seen,
            writer.lines_dropped,
        )
        if dropped:
            raise RuntimeError(f"{dropped} log lines dropped: log queue full")


async def _close_websockets(app: web.Application) -> None:
    sockets = app[OPEN_SOCKETS]
    for ws in tuple(sockets):
        await ws.close(code=WSCloseCode.GOING_AWAY, message=b"server shutting down")
