"""Every Prometheus metric the server exports, named exactly as the product spec names them.

The registry is injected (one per app, a fresh one per test); nothing here is global.
Known label values are pre-set to zero so that dashboards and alerts see a series
from the first scrape instead of "no data".

Code on the hot path (every request, every WebSocket frame) records through a series bound
once to its labels (``CounterSeries``, ``Histogram.series``): aioprometheus validates and
JSON-encodes the label dict on every ``inc``/``observe``, which cost more than the rest of a
request's bookkeeping together.
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import aioprometheus
from aioprometheus import Counter, Gauge, Registry
from aioprometheus.mypy_types import LabelsType, NumericValueType

from jarvis.logs.writer import DROP_REASONS

# LLM answers take seconds, not milliseconds: buckets reach past the 10 s alert threshold.
LLM_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 7.5, 10.0, 15.0, 30.0, 60.0, 120.0)
HTTP_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
PROBE_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
# A loop late by 5 ms is already a problem for streaming; seconds mean it is stuck.
LOOP_LAG_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)

# The label values the server emits; anything else is a bug, never user input.
WS_CONNECTION_STATUSES = ("accepted", "rejected", "closed", "error")
WS_DIRECTIONS = ("in", "out")
WS_MESSAGE_STATUSES = ("ok", "error")
CHAT_STATUSES = ("success", "error")
CHAT_ERROR_STAGES = (
    "parse",
    "validation",
    "body_too_large",
    "memory",
    "llm",
    "internal",
    "shutdown",
)
MEMORY_OPERATIONS = ("load", "save", "ping")
RATE_LIMITED_ENDPOINTS = ("/chat", "/ws")
CLIENT_TYPES = ("user", "ip")


class CounterSeries:
    """One series of a counter, its labels fixed: ``inc`` is one dict update, where
    ``Counter.inc(labels)`` checks and JSON-encodes the labels on every call. The value lives
    where aioprometheus keeps it, so ``Counter.get`` and every renderer see it as usual."""

    __slots__ = ("_key", "_store")

    def __init__(self, counter: Counter, labels: LabelsType) -> None:
        counter.add(labels, 0)  # creates the series, at zero, if it is new
        self._store = counter.values.store
        # The key aioprometheus files these labels under (its MetricDict's own encoding).
        self._key = counter.values.__keytransform__(labels)

    def inc(self, amount: float = 1) -> None:
        self._store[self._key] += amount


class BucketCounts:
    """One histogram series that counts an observation in its own bucket only and makes the
    counts cumulative when read (a scrape), where aioprometheus's adds 1 to every bucket at or
    above it (a dict write per bucket, per request). Reads like aioprometheus's series:
    ``buckets`` (upper bound → cumulative count, ``inf`` last), ``observations``, ``sum``."""

    __slots__ = ("_bounds", "_counts", "observations", "sum")

    def __init__(self, upper_bounds: Sequence[float]) -> None:
        self._bounds = (*(float(b) for b in upper_bounds if b != math.inf), math.inf)
        self._counts = [0] * len(self._bounds)
        self.observations = 0
        self.sum = 0.0

    def observe(self, value: float) -> None:
        # The first bound >= value: Prometheus buckets are "less than or equal".
        self._counts[bisect_left(self._bounds, value)] += 1
        self.sum += value
        self.observations += 1

    def observe_all(self, values: list[float]) -> None:
        """``observe`` each of ``values``."""
        bounds, counts = self._bounds, self._counts
        for value in values:
            counts[bisect_left(bounds, value)] += 1
        self.sum += sum(values)
        self.observations += len(values)

    @property
    def buckets(self) -> OrderedDict[float, int]:
        cumulative: OrderedDict[float, int] = OrderedDict()
        total = 0
        for bound, count in zip(self._bounds, self._counts, strict=True):
            total += count
            cumulative[bound] = total
        return cumulative


class Histogram(aioprometheus.Histogram):
    """aioprometheus's histogram, its series ``BucketCounts``; ``series(labels)`` hands one out
    so that hot code observes without the label dict's checks and encoding."""

    def series(self, labels: LabelsType) -> BucketCounts:
        """The series of ``labels``, created (empty) when new."""
        try:
            found = self.get_value(labels)
        except KeyError:
            found = None
        if isinstance(found, BucketCounts):
            return found
        if labels:
            self._check_labels(labels)
        series = BucketCounts(self.upper_bounds)
        self.values[labels] = series
        return series

    def add(self, labels: LabelsType, value: NumericValueType) -> None:
        if not isinstance(value, float | int):
            raise TypeError("Histogram only works with digits (int, float)")
        self.series(labels).observe(float(value))

    observe = add


@dataclass(frozen=True)
class Metrics:
    registry: Registry
    ws_active_connections: Gauge
    ws_connections_total: Counter
    ws_messages_total: Counter
    ws_message_seconds: Histogram
    chat_requests_total: Counter
    chat_errors_total: Counter
    llm_generate_seconds: Histogram
    memory_operations_total: Counter
    service_health_status: Gauge
    service_response_seconds: Histogram
    rate_limit_hits_total: Counter
    http_requests_total: Counter
    http_request_duration_seconds: Histogram
    log_lines_dropped_total: Counter
    rate_limit_backend_errors_total: Counter
    event_loop_lag_seconds: Histogram

    @classmethod
    def create(cls, registry: Registry | None = None) -> Metrics:
        """Define every family on ``registry`` (a new one by default) and zero known series."""
        registry = registry or Registry()
        m = cls(
            registry=registry,
            ws_active_connections=Gauge(
                "ws_active_connections", "WebSocket connections open right now", registry=registry
            ),
            ws_connections_total=Counter(
                "ws_connections_total", "WebSocket connections by outcome", registry=registry
            ),
            ws_messages_total=Counter(
                "ws_messages_total",
                "WebSocket messages by direction and outcome",
                registry=registry,
            ),
            ws_message_seconds=Histogram(
                "ws_message_seconds",
                "Time from a WebSocket chat frame received to its done frame sent",
                registry=registry,
                buckets=LLM_BUCKETS,
            ),
            chat_requests_total=Counter(
                "chat_requests_total", "Chat requests (HTTP and WebSocket)", registry=registry
            ),
            chat_errors_total=Counter(
                "chat_errors_total", "Chat errors by pipeline stage", registry=registry
            ),
            llm_generate_seconds=Histogram(
                "llm_generate_seconds",
                "LLM generation latency",
                registry=registry,
                buckets=LLM_BUCKETS,
            ),
            memory_operations_total=Counter(
                "memory_operations_total", "Conversation memory operations", registry=registry
            ),
            service_health_status=Gauge(
                "service_health_status",
                "1 when the dependency is healthy, else 0",
                registry=registry,
            ),
            service_response_seconds=Histogram(
                "service_response_seconds",
                "Latency of dependency health probes",
                registry=registry,
                buckets=PROBE_BUCKETS,
            ),
            rate_limit_hits_total=Counter(
                "rate_limit_hits_total", "Requests refused by the rate limiter", registry=registry
            ),
            http_requests_total=Counter(
                "http_requests_total",
                "HTTP requests by route template and status",
                registry=registry,
            ),
            http_request_duration_seconds=Histogram(
                "http_request_duration_seconds",
                "HTTP request duration by route template",
                registry=registry,
                buckets=HTTP_BUCKETS,
            ),
            # Beyond the spec's list: log lines lost, which no log line can report.
            log_lines_dropped_total=Counter(
                "log_lines_dropped_total",
                "Log lines never written: log queue full, or the log file refused them",
                registry=registry,
            ),
            # Beyond the spec's list: chats let through unmetered because the rate-limit
            # buckets (Redis) could not be reached.
            rate_limit_backend_errors_total=Counter(
                "rate_limit_backend_errors_total",
                "Chats let through without a rate-limit check: the buckets were unreachable",
                registry=registry,
            ),
            # Beyond the spec's list: how late the event loop runs what is due (loop_lag.py);
            # every request and frame waits that long on top of its own work.
            event_loop_lag_seconds=Histogram(
                "event_loop_lag_seconds",
                "How late the event loop woke a task sleeping a fixed interval",
                registry=registry,
                buckets=LOOP_LAG_BUCKETS,
            ),
        )
        m._zero_known_series()
        return m

    def count_log_lines_dropped(self, dropped: Mapping[str, int]) -> None:
        """Bring ``log_lines_dropped_total`` up to the log writer's own counts (by reason):
        the writer counts in its thread, the samples are set here, on the event loop."""
        for reason, count in dropped.items():
            self.log_lines_dropped_total.set({"reason": reason}, count)

    def _zero_known_series(self) -> None:
        self.ws_active_connections.set({}, 0)
        for status in WS_CONNECTION_STATUSES:
            self.ws_connections_total.add({"status": status}, 0)
        for direction in WS_DIRECTIONS:
            for status in WS_MESSAGE_STATUSES:
                self.ws_messages_total.add({"direction": direction, "status": status}, 0)
        for secure in ("true", "false"):
            for status in CHAT_STATUSES:
                self.chat_requests_total.add({"secure": secure, "status": status}, 0)
        for stage in CHAT_ERROR_STAGES:
            self.chat_errors_total.add({"stage": stage}, 0)
        for operation in MEMORY_OPERATIONS:
            for status in ("ok", "error"):
                self.memory_operations_total.add({"operation": operation, "status": status}, 0)
        for endpoint in RATE_LIMITED_ENDPOINTS:
            for client_type in CLIENT_TYPES:
                self.rate_limit_hits_total.add(
                    {"endpoint": endpoint, "client_type": client_type}, 0
                )
        for reason in DROP_REASONS:
            self.log_lines_dropped_total.add({"reason": reason}, 0)
        self.rate_limit_backend_errors_total.add({}, 0)
        self.event_loop_lag_seconds.series({})
