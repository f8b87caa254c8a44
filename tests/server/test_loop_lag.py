"""event_loop_lag_seconds on /metrics: how late the event loop runs what is due."""

from __future__ import annotations

import asyncio
import re
import time

from aiohttp import web
from support.jarvis_server import RunningServer, sample

BUCKETS = ["0.001", "0.0025", "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1.0"]


async def samples_after(server: RunningServer, count: float) -> str:
    """The exposition once the sampler has added to ``count`` (it samples ten times a second)."""
    for _ in range(250):
        text = await server.metrics_text()
        if (sample(text, "event_loop_lag_seconds_count") or 0) > count:
            return text
        await asyncio.sleep(0.02)
    raise AssertionError("event_loop_lag_seconds took no new sample in 5 s")


async def test_the_loop_lag_histogram_is_exposed_and_keeps_sampling(jarvis_server):
    server = await jarvis_server()
    text = await server.metrics_text()
    assert "# TYPE event_loop_lag_seconds histogram" in text
    bounds = re.findall(r'^event_loop_lag_seconds_bucket\{le="([^"]+)"\}', text, re.M)
    assert bounds == [*BUCKETS, "2.5", "+Inf"]
    first = sample(text, "event_loop_lag_seconds_count")
    assert first is not None

    later = await samples_after(server, first)
    count = sample(later, "event_loop_lag_seconds_count")
    assert count is not None and count > first
    assert sample(later, "event_loop_lag_seconds_bucket", le="+Inf") == count


async def blocking_handler(request: web.Request) -> web.Response:
    # The mistake the metric is there to reveal: a sync disk or network call on the loop.
    time.sleep(0.35)  # noqa: ASYNC251
    return web.json_response({"slept": True})


async def test_a_handler_blocking_the_loop_shows_as_lag(jarvis_server):
    """Blocking longer than the sampling interval makes the sampler wake at least that much
    minus one interval late, and the histogram says so."""
    routes = web.RouteTableDef()
    routes.get("/block")(blocking_handler)
    server = await jarvis_server(routes=routes)
    before = await server.metrics_text()
    slow_before = _samples_over(before, "0.1")

    async with server.session.get(server.url + "/block") as response:
        assert response.status == 200

    after = await samples_after(server, sample(before, "event_loop_lag_seconds_count") or 0)
    assert _samples_over(after, "0.1") > slow_before


def _samples_over(text: str, bound: str) -> float:
    count = sample(text, "event_loop_lag_seconds_count") or 0
    return count - (sample(text, "event_loop_lag_seconds_bucket", le=bound) or 0)
