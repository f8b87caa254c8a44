"""The application factory: one place where the server's parts are put together."""

from __future__ import annotations

import gc
import logging
from collections.abc import AsyncIterator, Callable, Iterable

from aiohttp import WSCloseCode, web
from redis.asyncio import Redis

from jarvis.chat.http_handler import chat
from jarvis.chat.intake import ChatIntake
from jarvis.chat.service import ChatService
from jarvis.chat.ws_handler import websocket_chat
from jarvis.health import Dependency, HealthMonitor
from jarvis.llm.base import LLMClient
from jarvis.llm.factory import create_llm_client
from jarvis.logline import ACTION, Action
from jarvis.logs.writer import LogWriter
from jarvis.loop_lag import loop_lag_sampler
from jarvis.memory import ConversationMemory
from jarvis.memory.redis_store import RedisMemory
from jarvis.memory.sqlite_store import SqliteMemory
from jarvis.metrics import Metrics
from jarvis.rate_limit.guard import RateLimitGuard
from jarvis.rate_limit.redis_buckets import RedisBuckets
from jarvis.redis_client import create_redis_client, shown_redis_url
from jarvis.settings import Settings
from jarvis.web.access_log import ACCESS_LOGGER, FinishedRequests, JsonAccessLogger
from jarvis.web.health_endpoint import health
from jarvis.web.keys import (
    CHAT_INTAKE,
    CHAT_SERVICE,
    HEALTH,
    LOG_WRITER,
    METRICS,
    OPEN_SOCKETS,
    SETTINGS,
)
from jarvis.web.metrics_endpoint import metrics as metrics_handler
from jarvis.web.middlewares import ObservedRoutes
from jarvis.web.middlewares.step4_shutdown import InFlightRequests
from jarvis.web.request_metrics import RequestSeries

logger = logging.getLogger("jarvis.app")


def create_app(
    settings: Settings,
    *,
    metrics: Metrics | None = None,
    log_writer: LogWriter | None = None,
    llm: LLMClient | None = None,
    extra_routes: Iterable[web.RouteDef] = (),
) -> web.Application:
    """Build the server, its JSON access log included: whoever runs it (``web.run_app``, an
    ``AppRunner``) needs no logging arguments. Dependencies (LLM client, memory, health probes)
    open on start-up and close on cleanup; ``llm`` replaces the client the settings would
    choose. With ``REDIS_URL`` the rate-limit buckets and the conversation memory live in
    Redis, shared with every other replica, and Redis is one more health dependency.

    Every route is observed (``jarvis.web.middlewares``): one more is given as
    ``extra_routes`` (``[web.get("/ping", ping)]``), never added to the router afterwards."""
    metrics = metrics or Metrics.create()
    in_flight = InFlightRequests(settings.shutdown_timeout, metrics)
    finished = FinishedRequests(RequestSeries(metrics))
    app = web.Application(
        client_max_size=settings.max_body_bytes,
        # These override the runner's own arguments, so no runner can drop the access log, nor
        # the request metrics recorded with it.
        handler_args={
            "access_log_class": JsonAccessLogger.writing_to(finished),
            "access_log": ACCESS_LOGGER,
        },
    )
    app[SETTINGS] = settings
    app[METRICS] = metrics
    redis = create_redis_client(settings) if settings.redis_url else None
    buckets = RedisBuckets(redis) if redis is not None else None
    rate_limit = RateLimitGuard.from_settings(settings, metrics, buckets)
    app[CHAT_INTAKE] = ChatIntake(settings, rate_limit, metrics)
    app[OPEN_SOCKETS] = set()
    if log_writer is not None:
        app[LOG_WRITER] = log_writer
    # Cleanup runs once every connection is closed: the last requests' lines are then made,
    # whether or not the loop gets to run the call that would have made them.
    app.on_cleanup.append(finished.on_cleanup)
    app.cleanup_ctx.append(loop_lag_sampler(metrics.event_loop_lag_seconds))
    app.cleanup_ctx.append(_dependencies(settings, metrics, log_writer, llm, redis))
    app.on_startup.append(in_flight.on_startup)
    # The grace period starts first: closing the WebSockets may take a while.
    app.on_shutdown.append(in_flight.on_shutdown)
    app.on_shutdown.append(_close_websockets)

    routes = [web.post("/chat", chat), web.get("/ws", websocket_chat), web.get("/health", health)]
    if settings.prometheus_metrics:
        routes.append(web.get("/metrics", metrics_handler))
    observed = ObservedRoutes(settings, in_flight)
    observed.add(app.router, [*routes, *extra_routes])
    observed.seal(app)
    return app


def _dependencies(
    settings: Settings,
    metrics: Metrics,
    log_writer: LogWriter | None,
    llm: LLMClient | None,
    redis: Redis | None,
) -> Callable[[web.Application], AsyncIterator[None]]:
    async def open_and_close(app: web.Application) -> AsyncIterator[None]:
        client = llm or create_llm_client(settings)
        memory: ConversationMemory
        if redis is not None:
            memory = RedisMemory(redis, settings.memory_max_turns, metrics)
        else:
            memory = await SqliteMemory.open(
                settings.memory_path, settings.memory_max_turns, metrics
            )
        app[CHAT_SERVICE] = ChatService(client, memory, metrics, settings.log_chat_content)
        dependencies = [
            Dependency(client.name, client.probe, critical=True),
            Dependency("memory", memory.ping, critical=True),
        ]
        if redis is not None:
            # Not critical by itself: what cannot work without it, memory, is down with it
            # and says so; rate limits fail open.
            dependencies.append(Dependency("redis", _RedisProbe(redis), critical=False))
        if log_writer is not None:
            dependencies.append(Dependency("log_sink", _LogSinkProbe(log_writer), critical=False))
        monitor = HealthMonitor(
            dependencies, metrics, settings.health_interval, settings.health_timeout
        )
        app[HEALTH] = monitor
        await monitor.start()
        logger.info(
            "jarvis ready",
            extra={
                ACTION: Action.STARTUP,
                "llm": client.name,
                "metrics": settings.prometheus_metrics,
                "memory": "redis" if redis is not None else "sqlite",
                **({"redis": shown_redis_url(settings.redis_url)} if redis is not None else {}),
            },
        )
        try:
            yield
        finally:
            await monitor.stop()
            await client.close()
            await memory.close()
            if redis is not None:
                await redis.aclose()
            logger.info("jarvis stopped", extra={ACTION: Action.SHUTDOWN})

    return open_and_close


async def freeze_startup_objects(app: web.Application) -> None:
    """An ``on_startup`` hook for a server process (``jarvis serve``), never for apps made in
    a test process: what start-up made lives as long as the server, so it leaves the garbage
    collector's generations. A full collection under load then walks only what requests
    left behind, where walking start-up's 50k objects stalled the event loop ~35 ms."""
    gc.collect()
    gc.freeze()


class _RedisProbe:
    """Healthy while Redis answers PING."""

    def __init__(self, redis: Redis) -> None:
        self._redis = redis

    async def __call__(self) -> None:
        await self._redis.ping()


class _LogSinkProbe:
    """Healthy while the writer thread runs, its last write succeeded and no line was dropped
    since the previous probe; else the error says which and how many, by reason."""

    def __init__(self, writer: LogWriter) -> None:
        self._writer = writer
        self._dropped_seen = writer.lines_dropped

    async def __call__(self) -> None:
        writer = self._writer
        if not writer.alive:
            raise RuntimeError("log writer thread is not running")
        dropped = writer.lines_dropped
        since = {
            reason: count - self._dropped_seen.get(reason, 0)
            for reason, count in dropped.items()
            if count > self._dropped_seen.get(reason, 0)
        }
        self._dropped_seen = dropped
        problems = [writer.last_error] if writer.last_error else []
        if since:
            reasons = ", ".join(f"{count} {reason}" for reason, count in since.items())
            problems.append(f"{sum(since.values())} log lines dropped ({reasons})")
        if problems:
            raise RuntimeError("; ".join(problems))


async def _close_websockets(app: web.Application) -> None:
    sockets = app[OPEN_SOCKETS]
    for ws in tuple(sockets):
        await ws.close(code=WSCloseCode.GOING_AWAY, message=b"server shutting down")
