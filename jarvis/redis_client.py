"""The one Redis client of a server (``REDIS_URL``), shared by its rate-limit buckets and its
conversation memory."""

from __future__ import annotations

from urllib.parse import urlsplit

from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError

from jarvis.settings import Settings

# Connections one server opens at most: commands take well under a millisecond, so this is
# plenty for one process, and N replicas stay far below Redis's 10,000 clients.
MAX_CONNECTIONS = 50


def create_redis_client(settings: Settings) -> Redis:
    """A client for ``settings.redis_url``. It connects on first use, so the server starts
    while Redis is down. Waiting for a pooled connection, connecting and each answer are
    bounded by ``redis_timeout``: a Redis that hangs delays a chat, never stalls it.

    A command that fails on a broken connection is tried once more, at once, on a new one:
    after Redis restarts, the connections pooled before fail once each, and that retry makes
    the restart invisible to chats. A command that timed out is not tried again (a Redis that
    hangs would only make the chat wait twice as long), and there is no backoff: while Redis
    is down, failing fast is what lets limits fail open and memory errors come back quickly.
    """
    timeout = settings.redis_timeout
    # A blocking pool: past MAX_CONNECTIONS busy at once, a command waits (up to the timeout)
    # for a free connection, where the default pool would fail it at once.
    pool = BlockingConnectionPool.from_url(
        settings.redis_url,
        max_connections=MAX_CONNECTIONS,
        timeout=timeout,
        socket_timeout=timeout,
        socket_connect_timeout=timeout,
        retry=Retry(NoBackoff(), 1, supported_errors=(RedisConnectionError,)),
    )
    return Redis.from_pool(pool)


def shown_redis_url(url: str) -> str:
    """``url`` without its password, for logs."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return url.replace(parts.netloc, parts.netloc.rsplit("@", 1)[1], 1)
