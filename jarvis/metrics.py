"""Every Prometheus metric the server exports, named exactly as the product spec names them.

The registry is injected (one per app, a fresh one per test); nothing here is global.
Known label values are pre-set to zero so that dashboards and alerts see a series
from the first scrape instead of "no data".
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from aioprometheus import Counter, Gauge, Histogram, Registry

from jarvis.logs.writer import DROP_REASONS

# LLM answers take seconds, not milliseconds: buckets reach past the 10 s alert threshold.
LLM_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 7.5, 10.0, 15.0, 30.0, 60.0, 120.0)
HTTP_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
PROBE_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)

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
