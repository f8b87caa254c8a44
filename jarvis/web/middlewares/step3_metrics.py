"""Step 3: counts and times every HTTP request by method, route template and status.

It wraps the error step, so it counts the status of the JSON error response a client got.
"""

from __future__ import annotations

import time

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from jarvis.metrics import Metrics
from jarvis.web.responses import route_of

_KNOWN_METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"})


def metrics_middleware(metrics: Metrics) -> Middleware:
    """Build the middleware recording ``http_requests_total`` and its duration histogram."""

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
            route = route_of(request)
            metrics.http_requests_total.inc(
                {"method": method, "route": route, "status": str(status)}
            )
            metrics.http_request_duration_seconds.observe(
                {"method": method, "route": route}, time.perf_counter() - started
            )

    return record_request
