"""Step 3 on /metrics: every request counted and timed by method, route template and status."""

from __future__ import annotations

import re

from support.jarvis_server import sample


async def test_requests_are_counted_and_timed_by_route_and_status(jarvis_server):
    server = await jarvis_server()
    for _ in range(7):
        async with server.session.get(server.url + "/health"):
            pass
    async with server.session.get(server.url + "/nowhere"):
        pass
    text = await server.metrics_text()

    assert sample(text, "http_requests_total", method="GET", route="/health", status="200") == 7
    assert sample(text, "http_requests_total", method="GET", route="unmatched", status="404") == 1
    count = sample(text, "http_request_duration_seconds_count", method="GET", route="/health")
    assert count == 7
    duration_sum = sample(text, "http_request_duration_seconds_sum", method="GET", route="/health")
    assert duration_sum is not None and duration_sum > 0
    bucket = r'^http_request_duration_seconds_bucket\{method="GET",route="/health",le="[^"]+"\}'
    buckets = [float(value) for value in re.findall(bucket + r" (\S+)$", text, re.M)]
    assert buckets == sorted(buckets), "buckets are cumulative"
    assert buckets[-1] == count, "the +Inf bucket holds every request"
