"""How ``jarvis dev`` knows a process is ready, or the shipper caught up: small HTTP checks.

A probe is an async function of a client session that answers True or False and never
raises: a refused connection or a timeout is simply "not yet".
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp

Probe = Callable[[aiohttp.ClientSession], Awaitable[bool]]

# One probe request must not hold up the loop that also watches the process exit.
_REQUEST_TIMEOUT = aiohttp.ClientTimeout(total=3)
_NOT_YET = (aiohttp.ClientError, TimeoutError, ValueError)


def elasticsearch_healthy(url: str) -> Probe:
    """Cluster health yellow or green; a cluster that refuses us (401, 403) answers, and its
    credentials are the shipper's business (it reads ELASTICSEARCH_*)."""
    health = f"{url}/_cluster/health?wait_for_status=yellow&timeout=1s"

    async def probe(session: aiohttp.ClientSession) -> bool:
        try:
            async with session.get(health, timeout=_REQUEST_TIMEOUT) as response:
                if response.status in (401, 403):
                    return True
                if response.status != 200:
                    return False
                body = await response.json(content_type=None)
        except _NOT_YET:
            return False
        return isinstance(body, dict) and body.get("status") in ("yellow", "green")

    return probe


def answers(url: str, *, statuses: tuple[int, ...] | None = None) -> Probe:
    """An HTTP answer from ``url`` (one of ``statuses`` when given): the server listens."""

    async def probe(session: aiohttp.ClientSession) -> bool:
        try:
            async with session.get(url, timeout=_REQUEST_TIMEOUT) as response:
                return statuses is None or response.status in statuses
        except _NOT_YET:
            return False

    return probe


def shipper_caught_up(health_url: str) -> Probe:
    """The shipper holds nothing read and unacknowledged (or cannot reach Elasticsearch, so
    waiting longer ships nothing more: it keeps the lines for its next start)."""

    async def probe(session: aiohttp.ClientSession) -> bool:
        try:
            async with session.get(health_url, timeout=_REQUEST_TIMEOUT) as response:
                body: Any = await response.json(content_type=None)
        except _NOT_YET:
            return False
        if not isinstance(body, dict):
            return False
        if body.get("elasticsearch_up") is False:
            return True
        return body.get("lag_bytes") == 0 and body.get("events_in_flight") == 0

    return probe


async def wait_until(
    probe: Probe,
    session: aiohttp.ClientSession,
    timeout: float,
    *,
    interval: float = 0.2,
    give_up: Callable[[], bool] = lambda: False,
) -> bool:
    """True once ``probe`` answers True, False after ``timeout`` seconds or once ``give_up()``
    (the process it waits for has exited)."""
    deadline = time.monotonic() + timeout
    while not give_up():
        if await probe(session):
            return True
        if time.monotonic() >= deadline:
            return False
        await asyncio.sleep(interval)
    return False
