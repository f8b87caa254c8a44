"""Step 3: counts and times every HTTP request by method, route template and status.

It wraps the error step, so it counts the status of the JSON error response a client got.
"""

from __future__ import annotations

import time

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from jarvis.metrics import BucketCounts, CounterSeries, Metrics
from jarvis.web.responses import route_of

_KNOWN_METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"})


class RequestSeries:
    """The ``http_requests_total`` and ``http_request_duration_seconds`` series of each
    (method, route, status), bound on first use. Every label is bounded (known methods, route
    templates, status codes), so this is too."""

    def __init__(self, metrics: Metrics) -> None:
        self._metrics = metrics
        self._bound: dict[tuple[str, str, int], tuple[CounterSeries, BucketCounts]] = {}

    def record(self, method: str, route: str, status: int, seconds: float) -> None:
        key = (method, route, status)
        series = self._bound.get(key)
        if series is None:
            series = self._bound[key] = self._bind(method, route, status)
        requests, durations = series
        requests.inc()
        durations.observe(seconds)

    def _bind(self, method: str, route: str, status: int) -> tuple[CounterSeries, BucketCounts]:
        labels = {"method": method, "route": route}
        return (
            CounterSeries(self._metrics.http_requests_total, {**labels, "status": str(status)}),
            self._metrics.http_request_duration_seconds.series(labels),
        )


def metrics_middleware(metrics: Metrics) -> Middleware:
    """Build the middleware recording ``http_requests_total`` and its duration histogram."""
    series = RequestSeries(metrics)

    @web.middleware
    async def record_request(request: web.Request, handler: Handler) -> web.StreamResponse:
        started = time.perf_counter()
        status = 500
        try:
            response = await handler(request)
            status = response.status
            return response
        except web.HTTPException as exc:
            status = exc.status
            raise
        finally:
            # Arbitrary methods are client input too: fold unknown ones into one value.
            method = request.method if request.method in _KNOWN_METHODS else "OTHER"
            series.record(method, route_of(request), status, time.perf_counter() - started)

    return record_request
