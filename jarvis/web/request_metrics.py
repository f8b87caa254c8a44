"""``http_requests_total`` and ``http_request_duration_seconds``: every HTTP request counted
and timed by method, route template and status.

Recorded when aiohttp reports a request done (``jarvis.web.access_log``), with the status the
client got (the JSON error response, a 503 of a cut-off request) and the time from the
request's arrival to its last byte sent: requests aiohttp answers by itself before any
middleware runs (malformed HTTP) are counted too.
"""

from __future__ import annotations

from jarvis.metrics import BucketCounts, CounterSeries, Metrics

_KNOWN_METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"})


class RequestSeries:
    """The ``http_requests_total`` and ``http_request_duration_seconds`` series of each
    (method, route, status), bound on first use. Every label is bounded (known methods, route
    templates, status codes), so this is too."""

    def __init__(self, metrics: Metrics) -> None:
        self._metrics = metrics
        self._bound: dict[tuple[str, str, int], tuple[CounterSeries, BucketCounts]] = {}

    def record(self, method: str, route: str, status: int, durations: list[float]) -> None:
        """Count requests of one (method, route, status), each taking ``durations`` seconds."""
        if method not in _KNOWN_METHODS:
            # Arbitrary methods are client input too: unknown ones fold into one value.
            method = "OTHER"
        key = (method, route, status)
        series = self._bound.get(key)
        if series is None:
            series = self._bound[key] = self._bind(method, route, status)
        requests, histogram = series
        requests.inc(len(durations))
        histogram.observe_all(durations)

    def _bind(self, method: str, route: str, status: int) -> tuple[CounterSeries, BucketCounts]:
        labels = {"method": method, "route": route}
        return (
            CounterSeries(self._metrics.http_requests_total, {**labels, "status": str(status)}),
            self._metrics.http_request_duration_seconds.series(labels),
        )
