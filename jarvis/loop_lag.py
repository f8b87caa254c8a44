"""``event_loop_lag_seconds``: how late the event loop runs what is due.

A small task sleeps a fixed interval again and again and records how much later than asked it
woke up. Whatever holds the loop — a sync disk or network call, a CPU-heavy handler, a huge
render — delays every request and WebSocket frame by as much, and shows up here. Ten samples a
second cost nothing measurable. An idle loop reads up to about 1 ms: the selector's timeout is
rounded up to whole milliseconds.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable

from aiohttp import web

from jarvis.metrics import BucketCounts, Histogram

INTERVAL_SECONDS = 0.1


async def sample_loop_lag(lag: BucketCounts, interval: float = INTERVAL_SECONDS) -> None:
    """Observe, every ``interval`` seconds and forever, how late the loop woke this task."""
    loop = asyncio.get_running_loop()
    while True:
        due = loop.time() + interval
        await asyncio.sleep(interval)
        lag.observe(max(0.0, loop.time() - due))


def loop_lag_sampler(
    histogram: Histogram, interval: float = INTERVAL_SECONDS
) -> Callable[[web.Application], AsyncIterator[None]]:
    """A ``cleanup_ctx`` entry: samples the loop's lag into ``histogram`` (its series without
    labels) from start-up to cleanup."""
    lag = histogram.series({})

    async def sampling(app: web.Application) -> AsyncIterator[None]:
        task = asyncio.create_task(sample_loop_lag(lag, interval), name="event-loop-lag")
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    return sampling
